import type { BoxSpec } from '../spec/schema.js';
import { boxLabels, type KubeObject } from './kube-object.js';
import { renderRuntimeClasses } from './gpu-runtime.js';
import { renderPriorityClasses } from './priority-classes.js';
import { renderWorkload } from './workloads.js';

export type { KubeObject } from './kube-object.js';

/**
 * Every Kubernetes object of a box, in apply order: the Namespace (named after the box), the
 * PriorityClasses, the RuntimeClass of CUDA workloads, then each workload's objects in spec order. Pure and deterministic; `render`
 * writes these to files and `apply` server-side-applies them.
 */
export function renderManifests(box: BoxSpec): KubeObject[] {
  const namespace: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: box.metadata.name, labels: boxLabels(box) } };
  return [namespace, ...renderPriorityClasses(box), ...renderRuntimeClasses(box), ...box.spec.workloads.flatMap((w) => renderWorkload(box, w))];
}
