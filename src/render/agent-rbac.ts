import { CRD_NAME, GROUP, PLURAL } from '../crd/edgebox-crd.js';
import type { BoxSpec } from '../spec/schema.js';
import { COMPONENT_LABEL } from './controller.js';
import { boxLabels, type KubeObject } from './kube-object.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { serviceAccountRbac } from './rbac.js';

/**
 * The identity every module's agent uses (docs/agent.md): one ServiceAccount for all modules,
 * because a module's role changes at run time and the admin kubeconfig K3s writes on servers is
 * gone once a server is demoted. Only the verbs the agent's code uses.
 */

export const AGENT_NAME = 'edgebox-agent';
const COMPONENT = 'agent';

const rule = (apiGroups: string[], resources: string[], verbs: string[], resourceNames?: string[]) => ({
  apiGroups,
  resources,
  verbs,
  ...(resourceNames ? { resourceNames } : {}),
});

/**
 * Nodes: its own read by the role loop, the box's listed for member removals, annotated by the
 * k3s role driver (`etcd.k3s.cattle.io/remove`), labelled and given extended resources by
 * discovery. Pods: its singletons listed when it fences itself. Events and the EdgeBox status:
 * discovery's findings. The CRD only by name: discovery reads it and re-applies the same object.
 */
export const AGENT_CLUSTER_RULES = [
  rule([''], ['nodes'], ['get', 'list', 'update', 'patch']),
  rule([''], ['nodes/status'], ['patch']),
  rule([''], ['pods'], ['list']),
  rule([''], ['events'], ['get', 'create', 'update']),
  rule([GROUP], [PLURAL], ['get', 'create', 'patch']),
  rule([GROUP], [`${PLURAL}/status`], ['get', 'update']),
  rule(['apiextensions.k8s.io'], ['customresourcedefinitions'], ['get', 'patch'], [CRD_NAME]),
];
/** Its own Lease (peer view, control-plane report), the others' (a removal's actor) and the peripherals' ownership Leases. */
export const AGENT_LEASE_RULES = [rule(['coordination.k8s.io'], ['leases'], ['get', 'list', 'create', 'update'])];

export function renderAgentRbac(box: BoxSpec): KubeObject[] {
  return serviceAccountRbac({
    name: AGENT_NAME,
    namespace: SYSTEM_NAMESPACE,
    labels: { ...boxLabels(box), [COMPONENT_LABEL]: COMPONENT },
    clusterRules: AGENT_CLUSTER_RULES,
    namespacedRules: AGENT_LEASE_RULES,
  });
}
