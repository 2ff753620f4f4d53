/** How a retry waits: `initialMs` after the first failure, doubling each failure in a row, never more than `maxMs`. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/**
 * The one capped exponential backoff: the delay after `failures` failures in a row (n >= 1).
 * Pure, so every loop's waits are table-tested; the loops own their timers.
 */
export function backoffMs(failures: number, b: Backoff): number {
  return Math.min(b.maxMs, b.initialMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
}
