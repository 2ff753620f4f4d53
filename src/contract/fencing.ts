import { PREFIX } from './labels.js';

/**
 * The controller's fence bookkeeping on a module's Node (docs/decisions/0001-self-healing.md):
 * the controller writes it, the dashboard and `edgebox status` read it. Everything the
 * controller knows lives on the Node, so a new leader continues where the old one stopped.
 */

export const FENCE_ANNOTATIONS = {
  /** When fencing was confirmed (RFC 3339); kept after rejoin, for the repeat-failure backoff. */
  fencedAt: `${PREFIX}/fenced-at`,
  /** Fences in a row, each less than an hour after the previous one; kept after rejoin. */
  fenceCount: `${PREFIX}/fence-count`,
  /** Since when a fenced module has been healthy; removed on rejoin or when it is unhealthy again. */
  healthySince: `${PREFIX}/healthy-since`,
  /** `power` or `taint`: present exactly while the module is fenced. */
  fenceMethod: `${PREFIX}/fence-method`,
  /** The failover in progress (JSON of FailoverRecord): from detection until rejoin. */
  failover: `${PREFIX}/failover`,
} as const;

export const FENCE_METHODS = ['power', 'taint'] as const;

export type FenceMethod = (typeof FENCE_METHODS)[number];

/** The failover in progress on one module, as its `edgebox.dev/failover` annotation holds it. Times in ms since the epoch. */
export interface FailoverRecord {
  detectedAt: number;
  /** The latest time any witness heard the module: where the failover's durations start. */
  lastSeenAt: number | null;
  /** The modules whose views made the quorum. */
  witnesses: string[];
  /** Why the power driver could not fence it; the taint fences it instead. */
  powerError?: string;
  releasedAt?: number;
  /** `namespace/workload` of each released pod that a controller elsewhere replaces. */
  workloads?: string[];
  /** When every released workload had a Ready replacement on another module. */
  readyAt?: number;
}

const iso = (t: number | undefined | null) => (t === undefined || t === null ? t : new Date(t).toISOString());

/** The annotation value of a failover record: times as RFC 3339, for people reading the node. */
export function formatFailover(r: FailoverRecord): string {
  return JSON.stringify({
    ...r,
    detectedAt: iso(r.detectedAt),
    lastSeenAt: iso(r.lastSeenAt),
    ...(r.releasedAt !== undefined ? { releasedAt: iso(r.releasedAt) } : {}),
    ...(r.readyAt !== undefined ? { readyAt: iso(r.readyAt) } : {}),
  });
}
