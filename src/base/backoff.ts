/** How a retry waits: `initialMs` after the first failure, doubling each failure in a row, never more than `maxMs`. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/**
 * The one capped exponential backoff: the delay after `failures` failures in a row (n >= 1).
 * Pure, so every loop's waits are table-tested; the loops own their timers. `random` (in [0, 1),
 * the loops pass Math.random()) spreads it over its upper half ("equal jitter"): the agents of a
 * box and the controllers' informers, all failing at the same outage, do not retry in step, and
 * the first retry after a service returns comes on average a quarter of the delay sooner.
 */
export function backoffMs(failures: number, b: Backoff, random?: number): number {
  const delay = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return random === undefined ? delay : Math.round(delay / 2 + (delay / 2) * Math.min(Math.max(random, 0), 1));
}
