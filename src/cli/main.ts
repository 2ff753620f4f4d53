import { CommanderError } from 'commander';
import { EdgeboxError } from '../diagnostics/diagnostic.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { requestedFormat } from './output.js';
import { printDiagnostics, printDiagnosticsJson } from './print-diagnostics.js';
import { buildProgram } from './program.js';

const program = await buildProgram(process.argv[2], { jsonErrors: requestedFormat(process.argv, process.env) === 'json' });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = handle(e);
}

/**
 * Every failure ends here: diagnostics are printed once, on stderr (as JSON under `-o json`),
 * and mapped to an exit code.
 */
function handle(e: unknown): number {
  const print = requestedFormat(process.argv, process.env) === 'json' ? printDiagnosticsJson : printDiagnostics;
  if (e instanceof EdgeboxError) {
    print(e.diagnostics);
    return exitCodeFor(e.kind);
  }
  if (e instanceof CommanderError) {
    // Help and version are not failures; usage errors are bad input.
    return e.exitCode === 0 ? EXIT.ok : EXIT.input;
  }
  print([
    {
      code: 'internal',
      severity: 'error',
      message: (e as Error)?.stack ?? String(e),
      hint: 'this is a bug in edgebox; please report it with the command you ran',
    },
  ]);
  return EXIT.failure;
}
