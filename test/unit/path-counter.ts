/**
 * Reaching a path, counted: `count` is called once per generated run with the paths that run
 * reached (falsy entries are skipped), and `share` is a path's share of the runs. A property test
 * asserts a minimum share of the path its title names, so a generator that drifts away from that
 * path fails the test instead of passing vacuously.
 */
export function pathCounter() {
  const counts = new Map<string, number>();
  let runs = 0;
  return {
    count(...paths: (string | false | undefined)[]) {
      runs++;
      for (const p of new Set(paths)) if (p) counts.set(p, (counts.get(p) ?? 0) + 1);
    },
    share: (path: string) => (counts.get(path) ?? 0) / Math.max(1, runs),
  };
}
