import { measureBaseline, reportBaseline, reportBaselineTargets, type Run } from './baseline.js';

/**
 * `npm run bench:failover-baseline`: the kill with Kubernetes' default timings, then with the
 * tuned ones. Exits 1 when a run's replacement is not Ready within its deadline.
 */
const interrupted = new AbortController();
// Ctrl-C stops the waiting; each run's `finally` then stops its box, so nothing is left behind.
process.once('SIGINT', () => interrupted.abort());
try {
  const runs: Run[] = [];
  for (const timings of ['default', 'tuned'] as const) runs.push(await measureBaseline(timings, interrupted.signal));
  reportBaseline(runs);
  reportBaselineTargets(runs);
} catch (e) {
  process.stderr.write(`failover-baseline: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
