import { EdgeboxError } from '../diagnostics/diagnostic.js';
import { printDiagnostics } from './print-diagnostics.js';

/**
 * The shell of an npm script outside the CLI (`npm run image`, `npm run artifacts`): its errors
 * printed as the CLI prints them, exit 2 for bad input, 1 for a failure; anything else is a bug,
 * printed with its stack.
 */
export async function runScript(name: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (e instanceof EdgeboxError) {
      printDiagnostics(e.diagnostics);
      process.exitCode = e.kind === 'input' ? 2 : 1;
    } else {
      process.stderr.write(`${name}: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    }
  }
}
