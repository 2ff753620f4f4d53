import type { CoreV1Event, V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import { LABELS } from '../contract/labels.js';
import type { PodRef } from './view.js';
import { isReady } from '../kube/client.js';

/** The EdgeBox object as the dashboard reads it: the status is open while other issues extend it. */
export interface EdgeBoxObject {
  metadata: { name: string; resourceVersion?: string };
  spec?: unknown;
  status?: Record<string, unknown>;
}

/**
 * What the watches hold at one moment: the input of the pure view functions. `departedPods`
 * are pods the dashboard saw deleted (their last state), kept a while so that a replacement can
 * still be paired with the pod it replaced once the API has forgotten it.
 */
export interface ClusterSnapshot {
  nodes: readonly V1Node[];
  pods: readonly V1Pod[];
  departedPods: readonly V1Pod[];
  events: readonly CoreV1Event[];
  leases: readonly V1Lease[];
  edgeBox?: EdgeBoxObject;
}

export const ms = (t: Date | string | undefined | null): number | undefined => {
  if (t === undefined || t === null) return undefined;
  const v = new Date(t).getTime();
  return Number.isNaN(v) ? undefined : v;
};

export const iso = (t: number): string => new Date(t).toISOString();

/** When the pod last became Ready, if it is. */
export function podReadyAt(p: V1Pod): number | undefined {
  const c = p.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True');
  return ms(c?.lastTransitionTime);
}

export function podRef(p: V1Pod): PodRef {
  const workload = p.metadata?.labels?.[LABELS.workload];
  const created = p.metadata?.creationTimestamp;
  return {
    name: p.metadata?.name ?? '',
    namespace: p.metadata?.namespace ?? '',
    ...(workload ? { workload } : {}),
    ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
    phase: p.status?.phase ?? 'Pending',
    ready: isReady(p),
    terminating: Boolean(p.metadata?.deletionTimestamp),
    ...(created ? { createdAt: new Date(created).toISOString() } : {}),
  };
}

/** A pod that still counts: not finished (Succeeded/Failed pods hold no resources). */
export function podActive(p: V1Pod): boolean {
  return p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
}
