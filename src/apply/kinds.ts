import type { KubeObject } from '../render/manifests.js';

export interface KindInfo {
  apiVersion: string;
  kind: string;
  /** Plural resource and group as RBAC names it, e.g. `deployments.apps`. */
  resource: string;
  namespaced: boolean;
  /**
   * Whether apply lists this kind by its ownership labels and deletes what the spec dropped.
   * Default: true. False for the EdgeBox object: one per box, carrying its status history.
   */
  pruned?: false;
}

/**
 * Every kind `renderClusterObjects` produces, in the order apply creates them: a
 * namespace before what lives in it, a PriorityClass before the pods that name it, RBAC before the
 * controller's pods that use it, the headless Service before its
 * StatefulSet. Prune lists exactly these kinds (an object of a kind the spec no longer renders at
 * all must still be found) and deletes in the reverse order.
 */
export const APPLY_KINDS: readonly KindInfo[] = [
  { apiVersion: 'v1', kind: 'Namespace', resource: 'namespaces', namespaced: false },
  // Before anything that could be an EdgeBox object: its resource is served only once the CRD is.
  { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', resource: 'customresourcedefinitions.apiextensions.k8s.io', namespaced: false },
  // Right after its CRD, so the controller and the agents have it to write status on from the start.
  { apiVersion: 'edgebox.dev/v1alpha1', kind: 'EdgeBox', resource: 'edgeboxes.edgebox.dev', namespaced: false, pruned: false },
  { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', resource: 'priorityclasses.scheduling.k8s.io', namespaced: false },
  // Before the pods that name it: admission rejects a pod whose RuntimeClass does not exist.
  { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', resource: 'runtimeclasses.node.k8s.io', namespaced: false },
  { apiVersion: 'v1', kind: 'ServiceAccount', resource: 'serviceaccounts', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', resource: 'clusterroles.rbac.authorization.k8s.io', namespaced: false },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', resource: 'clusterrolebindings.rbac.authorization.k8s.io', namespaced: false },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', resource: 'roles.rbac.authorization.k8s.io', namespaced: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', resource: 'rolebindings.rbac.authorization.k8s.io', namespaced: true },
  // The agents' admission policy before the binding that names it.
  {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    resource: 'validatingadmissionpolicies.admissionregistration.k8s.io',
    namespaced: false,
  },
  {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    resource: 'validatingadmissionpolicybindings.admissionregistration.k8s.io',
    namespaced: false,
  },
  { apiVersion: 'v1', kind: 'Service', resource: 'services', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', resource: 'statefulsets.apps', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'Deployment', resource: 'deployments.apps', namespaced: true },
  { apiVersion: 'apps/v1', kind: 'DaemonSet', resource: 'daemonsets.apps', namespaced: true },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', resource: 'poddisruptionbudgets.policy', namespaced: true },
];

export const NODE_KIND: KindInfo = { apiVersion: 'v1', kind: 'Node', resource: 'nodes', namespaced: false };
export const POD_KIND: KindInfo = { apiVersion: 'v1', kind: 'Pod', resource: 'pods', namespaced: true };

/** Identifies an object independently of its API version (`apps/v1beta2` and `apps/v1` are one Deployment). */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');

export function refOf(o: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): ObjectRef {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    name: o.metadata.name,
    ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
  };
}

export function refKey(r: ObjectRef): string {
  return `${groupOf(r.apiVersion)}/${r.kind}/${r.namespace ?? ''}/${r.name}`;
}

/**
 * The apply position of a kind. A kind missing from APPLY_KINDS is a bug: prune would never
 * look for it, so objects of that kind would be left behind when the spec drops them.
 */
export function kindInfo(r: Pick<ObjectRef, 'apiVersion' | 'kind'>): KindInfo & { order: number } {
  const order = APPLY_KINDS.findIndex((k) => k.kind === r.kind && groupOf(k.apiVersion) === groupOf(r.apiVersion));
  if (order < 0) throw new Error(`edgebox apply does not know kind ${r.apiVersion} ${r.kind}; add it to APPLY_KINDS so prune covers it`);
  return { ...APPLY_KINDS[order]!, order };
}
