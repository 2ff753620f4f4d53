import { KUBERNETES_DEFAULTS, TUNED, type Timings } from '../render/tuning.js';

export const TIMINGS_NAMES = ['default', 'tuned'] as const;
export type TimingsName = (typeof TIMINGS_NAMES)[number];

/** The failover timings a local box runs with (`local up --timings`). */
export function timingsFor(name: TimingsName): Timings {
  return name === 'tuned' ? TUNED : KUBERNETES_DEFAULTS;
}
