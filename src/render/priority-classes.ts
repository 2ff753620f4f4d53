import type { BoxSpec, Criticality } from '../spec/schema.js';
import { CRITICALITIES } from '../spec/schema.js';
import { boxLabels, type KubeObject } from './kube-object.js';

interface PriorityRule {
  value: number;
  preemptionPolicy: 'PreemptLowerPriority' | 'Never';
  description: string;
}

/**
 * One PriorityClass per criticality. Values stay far below K3s's own add-ons
 * (system-cluster-critical is 2000000000), so CoreDNS and the metrics server always win; between
 * them, a critical workload that lost its module may evict a best-effort one to find room.
 * Best-effort never preempts: it waits rather than push anything out.
 */
const RULES: Record<Criticality, PriorityRule> = {
  critical: {
    value: 1_000_000,
    preemptionPolicy: 'PreemptLowerPriority',
    description: 'edgebox critical workloads: may preempt standard and best-effort pods to fail over',
  },
  standard: {
    value: 10_000,
    preemptionPolicy: 'PreemptLowerPriority',
    description: 'edgebox standard workloads: may preempt best-effort pods',
  },
  'best-effort': {
    value: 100,
    preemptionPolicy: 'Never',
    description: 'edgebox best-effort workloads: never preempt, wait for free capacity',
  },
};

export function priorityClassName(c: Criticality): string {
  return `edgebox-${c}`;
}

/** Cluster-scoped; rendered for every criticality so a spec change never needs a new class. */
export function renderPriorityClasses(box: BoxSpec): KubeObject[] {
  return CRITICALITIES.map((c) => ({
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name: priorityClassName(c), labels: boxLabels(box) },
    value: RULES[c].value,
    preemptionPolicy: RULES[c].preemptionPolicy,
    globalDefault: false,
    description: RULES[c].description,
  }));
}
