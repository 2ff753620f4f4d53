/**
 * A bench's command line, the same for every bench: `--help` prints its usage (exit 0); an option
 * it refuses is bad input, said on one line with the usage before anything starts (exit 2); an
 * error of the run itself is a failure (exit 1). Missed targets set the exit code themselves
 * (targets.ts).
 */
export async function runBench<O>(name: string, usage: string, parse: (argv: string[]) => O, run: (opts: O) => Promise<void>): Promise<void> {
  const argv = process.argv.slice(2);
  const line = `usage: npm run ${name} -- ${usage}\n`;
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(line);
    return;
  }
  let opts: O;
  try {
    opts = parse(argv);
  } catch (e) {
    process.stderr.write(`${name}: ${(e as Error).message}\n${line}`);
    process.exitCode = 2;
    return;
  }
  try {
    await run(opts);
  } catch (e) {
    process.stderr.write(`${name}: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
