/** Progress lines for long local-box operations; the CLI prints them to stderr, tests drop them. */
export type Progress = (line: string) => void;

export const silent: Progress = () => {};

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Runs a step and reports how long it took. A step still running after 2 s says so (and again
 * every 10 s), so a slow build or a slow API server never looks like a hang.
 */
export async function timed<T>(progress: Progress, label: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let next = 2000;
  const timer = setInterval(() => {
    const elapsed = Date.now() - start;
    if (elapsed >= next) {
      progress(`  ${label}: still working (${seconds(elapsed)})`);
      next += 10_000;
    }
  }, 500);
  try {
    const value = await fn();
    return { value, ms: Date.now() - start };
  } finally {
    clearInterval(timer);
  }
}
