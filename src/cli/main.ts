import { Command, CommanderError } from 'commander';
import { EdgeboxError } from '../diagnostics/diagnostic.js';
import { registerAgent } from './commands/agent.js';
import { registerApply } from './commands/apply.js';
import { registerCatalog } from './commands/catalog.js';
import { registerLocal } from './commands/local.js';
import { registerPlan } from './commands/plan.js';
import { registerRender } from './commands/render.js';
import { registerValidate } from './commands/validate.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { printDiagnostics } from './print-diagnostics.js';

const program = new Command()
  .name('edgebox')
  .description('Turn a box of mixed edge modules into one self-healing, highly available K3s cluster')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerValidate(program);
registerCatalog(program);
registerPlan(program);
registerRender(program);
registerLocal(program);
registerApply(program);
registerAgent(program);

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
  printDiagnostics([{ code: 'internal', severity: 'error', message: (e as Error)?.stack ?? String(e), hint: 'this is a bug in edgebox; please report it with the command you ran' }]);
  return EXIT.failure;
}
