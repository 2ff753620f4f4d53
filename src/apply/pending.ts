import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { KubeObject } from '../render/manifests.js';
import type { ObservedPod } from './cluster.js';

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** A workload object and the pods its selector currently matches. */
export interface WorkloadPods {
  workload: KubeObject;
  pods: ObservedPod[];
}

/** The workload objects among rendered ones, with the selector that finds their pods. */
export function workloadSelectors(objects: readonly KubeObject[]): { workload: KubeObject; namespace: string; selector: string }[] {
  return objects
    .filter((o) => WORKLOAD_KINDS.has(o.kind) && o.metadata.namespace)
    .flatMap((o) => {
      const matchLabels = (o as { spec?: { selector?: { matchLabels?: Record<string, string> } } }).spec?.selector?.matchLabels ?? {};
      const selector = Object.entries(matchLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      return selector ? [{ workload: o, namespace: o.metadata.namespace!, selector }] : [];
    });
}

/**
 * Why workloads are not running: one warning per workload with a pod the scheduler could not
 * place, quoting the scheduler's own reason from the pod's PodScheduled condition (e.g.
 * "0/5 nodes are available: 1 Insufficient memory, 4 node(s) didn't match Pod's node
 * affinity/selector").
 */
export function pendingWorkloads(found: readonly WorkloadPods[]): Diagnostic[] {
  return found.flatMap(({ workload, pods }) => {
    const stuck = pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'));
    const first = stuck[0];
    if (!first) return [];
    const why = first.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message ?? 'no reason given';
    return [
      {
        code: 'apply.workload-unschedulable',
        severity: 'warning' as const,
        message: `workload ${workload.metadata.name}: ${stuck.length === 1 ? `pod ${first.metadata.name} is` : `${stuck.length} pods are`} Pending: ${why}`,
        hint: 'free cpu/memory on a module that has what it requires, add such a module to the box, or lower its requests in the spec',
      },
    ];
  });
}
