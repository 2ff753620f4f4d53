import { Command } from 'commander';
import { EXAMPLES } from './examples.js';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs: the agent (a daemon on every
 * module, targeted at 60 MB) and quick commands like `validate` must not pay for the Kubernetes
 * client library and the web server that other commands load. Help, completion and an unknown
 * command load them all, so commander can list them and suggest the nearest.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  validate: async () => (await import('./commands/validate.js')).registerValidate,
  catalog: async () => (await import('./commands/catalog.js')).registerCatalog,
  plan: async () => (await import('./commands/plan.js')).registerPlan,
  render: async () => (await import('./commands/render.js')).registerRender,
  local: async () => (await import('./commands/local.js')).registerLocal,
  apply: async () => (await import('./commands/apply.js')).registerApply,
  install: async () => (await import('./commands/install.js')).registerInstall,
  upgrade: async () => (await import('./commands/install.js')).registerUpgrade,
  uninstall: async () => (await import('./commands/install.js')).registerUninstall,
  agent: async () => (await import('./commands/agent.js')).registerAgent,
  controller: async () => (await import('./commands/controller.js')).registerController,
  dashboard: async () => (await import('./commands/dashboard.js')).registerDashboard,
  peripheral: async () => (await import('./commands/peripheral.js')).registerPeripheral,
  status: async () => (await import('./commands/status.js')).registerStatus,
  drain: async () => (await import('./commands/drain.js')).registerDrain,
  completion: async () => (await import('./commands/completion.js')).registerCompletion,
};

/** `local up`: a command's words below the program. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command below `root`, depth first. */
export function walkCommands(root: Command): Command[] {
  return root.commands.flatMap((c) => [c, ...walkCommands(c)]);
}

/**
 * The program with the command `named` registered (every command when it names none or an
 * unknown one), each with its `Example:` section from src/cli/examples.ts.
 */
export async function buildProgram(named?: string, opts: { jsonErrors?: boolean } = {}): Promise<Command> {
  const program = new Command()
    .name('edgebox')
    .description('Turn a box of mixed edge modules into one self-healing, highly available K3s cluster')
    .version('0.1.0')
    .exitOverride();
  // Before any command is added: subcommands copy these settings when they are created.
  if (opts.jsonErrors) {
    // Usage errors as the same JSON document as every other failure (src/cli/main.ts).
    program.configureOutput({
      outputError: (message, write) =>
        write(`${JSON.stringify({ errors: [{ code: 'cli.usage', severity: 'error', message: message.replace(/^error: /, '').trim() }] }, null, 2)}\n`),
    });
  } else program.showHelpAfterError('(run with --help for usage)');
  // Completion describes every command, so it loads them all.
  const one = named !== undefined && named !== 'completion' && Object.hasOwn(COMMANDS, named);
  const wanted = one ? [COMMANDS[named]!] : Object.values(COMMANDS);
  for (const register of await Promise.all(wanted.map((load) => load()))) register(program);
  for (const cmd of [program, ...walkCommands(program)]) {
    const examples = EXAMPLES[commandPath(cmd)];
    if (examples) cmd.addHelpText('after', ['', 'Example:', ...examples.map((e) => `  $ ${e}`)].join('\n'));
  }
  return program;
}
