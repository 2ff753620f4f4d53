import type { Taint } from '../contract/taints.js';
import { FENCE_ANNOTATIONS, FENCE_METHODS, type FenceMethod, type FailoverRecord } from '../contract/fencing.js';
import { timeOf } from '../kube/time.js';

/**
 * The plain shapes the controller's pure decision core works on, read from the API by the
 * informers. The names it writes back (fence annotations, taints) are in src/contract.
 */

/**
 * How much longer than the module's own self-fence bound the controller waits before it releases
 * the singletons of a module fenced by the taint alone (docs/decisions/0001-self-healing.md,
 * "Self-fencing"). The agent fences itself at most `selfFenceSeconds` plus one heartbeat interval
 * (its check) after the start of its last successful Lease write, and freezing the kubelet and
 * stopping a sandbox take well under a second. The wait counts from when the controller saw that
 * write (its own monotonic clock, src/kube/observed-time.ts), which is never before the write
 * started, so no clock of the module enters it; the margin is for the fence itself and for the
 * two clocks' rates.
 */
export const SELF_FENCE_MARGIN_MS = 2000;

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
  /** ms since the epoch on the kubelet's clock, for people; null when it was never renewed. Decisions use `observedAt`. */
  renewTime: number | null;
  durationSeconds: number;
  /** When the controller saw its last renewal, on its own monotonic clock (ms); null when it was never renewed. */
  observedAt: number | null;
}

export interface PeerEntry {
  reachable: boolean;
  lastSeen: number | null;
  suspicion: number;
}

/** One agent's Lease `edgebox-system/agent-<module>` with its view of its peers. */
export interface AgentView {
  module: string;
  /** The agent's wall clock, for people; decisions use `observedAt`. */
  renewTime: number | null;
  durationSeconds: number;
  /** When the controller saw its last renewal, on its own monotonic clock (ms); null when it was never renewed. */
  observedAt: number | null;
  /**
   * Its last renewal was first seen in a (re-)list, not as it happened: after an API outage, the
   * last Lease of an agent that died meanwhile looks renewed "now". Such a view witnesses nothing
   * until the agent is seen renewing again.
   */
  listedOnly?: true;
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

/** The record in a node's failover annotation, or undefined when absent or unreadable. */
export function failoverOf(node: ObservedNode): FailoverRecord | undefined {
  const text = node.annotations[FENCE_ANNOTATIONS.failover];
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
  const m = node.annotations[FENCE_ANNOTATIONS.fenceMethod];
  return (FENCE_METHODS as readonly string[]).includes(m ?? '') ? (m as FenceMethod) : undefined;
}
