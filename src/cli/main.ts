import { Command, CommanderError } from 'commander';
import { EdgeboxError } from '../diagnostics/diagnostic.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { printDiagnostics } from './print-diagnostics.js';

const program = new Command()
  .name('edgebox')
  .description('Turn a box of mixed edge modules into one self-healing, highly available K3s cluster')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs: the agent (a daemon on every
 * module, targeted at 60 MB) and quick commands like `validate` must not pay for the Kubernetes
 * client library and the web server that other commands load. Help and an unknown command load
 * them all, so commander can list them and suggest the nearest.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  validate: async () => (await import('./commands/validate.js')).registerValidate,
  catalog: async () => (await import('./commands/catalog.js')).registerCatalog,
  plan: async () => (await import('./commands/plan.js')).registerPlan,
  render: async () => (await import('./commands/render.js')).registerRender,
  local: async () => (await import('./commands/local.js')).registerLocal,
  apply: async () => (await import('./commands/apply.js')).registerApply,
  agent: async () => (await import('./commands/agent.js')).registerAgent,
  controller: async () => (await import('./commands/controller.js')).registerController,
  dashboard: async () => (await import('./commands/dashboard.js')).registerDashboard,
  peripheral: async () => (await import('./commands/peripheral.js')).registerPeripheral,
  status: async () => (await import('./commands/status.js')).registerStatus,
  drain: async () => (await import('./commands/drain.js')).registerDrain,
};

const named = process.argv[2];
const wanted = named !== undefined && Object.hasOwn(COMMANDS, named) ? [COMMANDS[named]!] : Object.values(COMMANDS);
for (const register of await Promise.all(wanted.map((load) => load()))) register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = handle(e);
}

/** Every failure ends here: diagnostics are printed once and mapped to an exit code. */
function handle(e: unknown): number {
  if (e instanceof EdgeboxError) {
    printDiagnostics(e.diagnostics);
    return exitCodeFor(e.kind);
  }
  if (e instanceof CommanderError) {
    // Help and version are not failures; usage errors are bad input.
    return e.exitCode === 0 ? EXIT.ok : EXIT.input;
  }
  printDiagnostics([
    {
      code: 'internal',
      severity: 'error',
      message: (e as Error)?.stack ?? String(e),
      hint: 'this is a bug in edgebox; please report it with the command you ran',
    },
  ]);
  return EXIT.failure;
}
