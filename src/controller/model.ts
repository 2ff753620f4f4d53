import { PREFIX } from '../spec/labels.js';
import type { Taint } from '../render/node-metadata.js';

/**
 * What the controller reads from the API and writes back: the annotation keys of its fence
 * bookkeeping, the out-of-service taint, and the plain shapes the pure decision core works on.
 * Everything the controller knows lives on the Node (docs/decisions/0001-self-healing.md), so a
 * new leader continues where the old one stopped.
 */

export const ANNOTATIONS = {
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

/**
 * How much longer than the module's own self-fence bound the controller waits before it releases
 * the singletons of a module fenced by the taint alone (docs/decisions/0001-self-healing.md,
 * "Self-fencing"). The agent fences itself at most `selfFenceSeconds` plus one heartbeat interval
 * (its check) after the start of its last successful Lease write, and freezing the kubelet and
 * stopping a sandbox take well under a second; the rest is for the clocks: the renewTime is the
 * module's wall clock and the wait runs on the controller's, so their offset must stay under about
 * one second (NTP on the box network keeps it to milliseconds).
 */
export const SELF_FENCE_MARGIN_MS = 2000;

/** The taint of Kubernetes' non-graceful node shutdown: pods are deleted and volumes detached at once. */
export const OUT_OF_SERVICE_TAINT: Taint = { key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' };
/**
 * Put on with the out-of-service taint and removed with it. Singleton pods tolerate the
 * out-of-service taint (the controller releases them itself, after the module's self-fence
 * bound), and a toleration also lets the scheduler place a pod: without this taint their
 * replacement would land on the fenced module again.
 */
export const FENCED_TAINT: Taint = { key: `${PREFIX}/fenced`, value: 'true', effect: 'NoSchedule' };
/** The taints of a fenced module. */
export const FENCE_TAINTS: readonly Taint[] = [OUT_OF_SERVICE_TAINT, FENCED_TAINT];

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

/** A Node as decide reads it. */
export interface ObservedNode {
  name: string;
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  taints: Taint[];
  /** The Ready condition's status; 'Unknown' when there is none. */
  ready: 'True' | 'False' | 'Unknown';
}

/** A node's own Lease in kube-node-lease: the kubelet's heartbeat. */
export interface ObservedNodeLease {
  node: string;
  /** ms since the epoch; null when it was never renewed. */
  renewTime: number | null;
  durationSeconds: number;
}

export interface PeerEntry {
  reachable: boolean;
  lastSeen: number | null;
  suspicion: number;
}

/** One agent's Lease `edgebox-system/agent-<module>` with its view of its peers. */
export interface AgentView {
  module: string;
  renewTime: number | null;
  durationSeconds: number;
  peers: Record<string, PeerEntry>;
}

export interface ObservedPod {
  namespace: string;
  name: string;
  uid: string;
  node: string | undefined;
  /** The `edgebox.dev/workload` label. */
  workload: string | undefined;
  /** The `edgebox.dev/singleton` label: released from a module fenced by the taint alone only after its self-fence bound. */
  singleton: boolean;
  /** Kind of the pod's controller (ReplicaSet, StatefulSet, DaemonSet...), if any. */
  ownerKind: string | undefined;
  deleting: boolean;
  ready: boolean;
  /** ms since the epoch (second precision, as the API keeps it). */
  createdAt: number;
}

export type Ready = ObservedNode['ready'];

/** ms since the epoch of an API timestamp (a string from a watch, a Date from a typed list), or null. */
export function timeOf(v: unknown): number | null {
  if (v instanceof Date) return v.getTime();
  if (typeof v !== 'string' || v === '') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
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

/** The record in a node's failover annotation, or undefined when absent or unreadable. */
export function failoverOf(node: ObservedNode): FailoverRecord | undefined {
  const text = node.annotations[ANNOTATIONS.failover];
  if (!text) return undefined;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const detectedAt = timeOf(raw.detectedAt);
  if (detectedAt === null) return undefined;
  const releasedAt = timeOf(raw.releasedAt);
  const readyAt = timeOf(raw.readyAt);
  return {
    detectedAt,
    lastSeenAt: timeOf(raw.lastSeenAt),
    witnesses: Array.isArray(raw.witnesses) ? raw.witnesses.filter((w): w is string => typeof w === 'string') : [],
    ...(typeof raw.powerError === 'string' ? { powerError: raw.powerError } : {}),
    ...(releasedAt !== null ? { releasedAt } : {}),
    ...(Array.isArray(raw.workloads) ? { workloads: raw.workloads.filter((w): w is string => typeof w === 'string') } : {}),
    ...(readyAt !== null ? { readyAt } : {}),
  };
}

export function fenceMethodOf(node: ObservedNode): FenceMethod | undefined {
  const m = node.annotations[ANNOTATIONS.fenceMethod];
  return (FENCE_METHODS as readonly string[]).includes(m ?? '') ? (m as FenceMethod) : undefined;
}

export function hasTaint(taints: readonly Taint[], t: Taint): boolean {
  return taints.some((x) => x.key === t.key && x.effect === t.effect);
}
