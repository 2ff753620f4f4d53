import { LABELS } from '../contract/labels.js';
import type { BoxSpec, WorkloadSpec } from '../spec/schema.js';

/**
 * A Kubernetes object as edgebox renders it and `edgebox apply` sends it (server-side apply).
 * Plain JSON data; `metadata` stays open because objects read back from the API server carry
 * more (deletionTimestamp, managedFields...).
 */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** The value of `app.kubernetes.io/managed-by` on everything edgebox renders; apply prunes by it. */
export const MANAGED_BY = 'edgebox';

/** Labels on every rendered object: who manages it and which box it belongs to. */
export function boxLabels(box: BoxSpec): Record<string, string> {
  return { [LABELS.managedBy]: MANAGED_BY, [LABELS.box]: box.metadata.name };
}

/**
 * What a workload's selectors match: box and workload only. `spec.selector` of Deployments,
 * StatefulSets and DaemonSets is immutable, so it must not include anything the spec may change
 * later (criticality): changing it would make every later apply fail.
 */
export function selectorLabels(box: BoxSpec, w: WorkloadSpec): Record<string, string> {
  return { [LABELS.box]: box.metadata.name, [LABELS.workload]: w.name };
}

/** Labels on a workload's own objects (the workload, its Service and PDB). */
export function workloadLabels(box: BoxSpec, w: WorkloadSpec): Record<string, string> {
  return { ...boxLabels(box), [LABELS.workload]: w.name, [LABELS.criticality]: w.criticality };
}
