import { CRD_NAME, GROUP, PLURAL } from '../crd/edgebox-crd.js';
import { agentServiceAccount } from '../contract/identity.js';
import { agentLeaseName, SYSTEM_NAMESPACE } from '../contract/leases.js';
import { peripheralLeaseName } from '../contract/peripherals.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import { renderAgentPolicy } from './agent-policy.js';
import { COMPONENT_LABEL } from './controller.js';
import { boxLabels, type KubeObject } from './kube-object.js';
import { serviceAccountRbac, type PolicyRule } from './rbac.js';

/**
 * The identities of the box's agents (docs/decisions/0005-one-identity-per-module.md): one
 * ServiceAccount per module, so a compromised module speaks for itself alone. What every agent
 * may read or write alike is one ClusterRole; what only one module may write (its Node, its view
 * Lease, the ownership Leases of the peripherals attached to it) is a Role and a ClusterRole of
 * its own, scoped by `resourceNames`. What RBAC cannot say (which fields of its Node, a view's
 * timestamps, which Lease it may create) the admission policy of agent-policy.ts says.
 */

/** The ClusterRole and binding every agent shares. */
export const AGENT_SHARED_NAME = 'edgebox-agent';
const COMPONENT = 'agent';

type Rule = PolicyRule;

const rule = (apiGroups: string[], resources: string[], verbs: string[], resourceNames?: string[]): Rule => ({
  apiGroups,
  resources,
  verbs,
  ...(resourceNames ? { resourceNames } : {}),
});

/**
 * Every agent: Nodes read (the role loop lists the box's, a member removal reads the dead one's),
 * Events and the EdgeBox status for discovery's findings, the EdgeBox object and its CRD by name.
 */
export function sharedAgentRules(box: BoxSpec): Rule[] {
  return [
    rule([''], ['nodes'], ['get', 'list']),
    rule([''], ['events'], ['get', 'create', 'update']),
    // Create cannot be scoped by name (the name is in the body); discovery creates the box's object once.
    rule([GROUP], [PLURAL], ['create']),
    rule([GROUP], [PLURAL], ['get', 'patch'], [box.metadata.name]),
    rule([GROUP], [`${PLURAL}/status`], ['get', 'update'], [box.metadata.name]),
    rule(['apiextensions.k8s.io'], ['customresourcedefinitions'], ['get', 'patch'], [CRD_NAME]),
  ];
}

/**
 * The Nodes a module's agent may write: its own (discovery's labels and extended resources), and,
 * on a module that may serve, every other module that may serve: the etcd leader's agent marks a
 * dead member's Node for K3s to remove it. The admission policy allows nothing else on those.
 */
export function writableNodes(box: BoxSpec, m: ModuleSpec): string[] {
  const mayServe = (x: ModuleSpec) => x.roles.includes('server');
  return [m.name, ...(mayServe(m) ? box.spec.modules.filter((x) => x !== m && mayServe(x)).map((x) => x.name) : [])];
}

export function moduleClusterRules(box: BoxSpec, m: ModuleSpec): Rule[] {
  return [rule([''], ['nodes'], ['update', 'patch'], writableNodes(box, m)), rule([''], ['nodes/status'], ['patch'], [m.name])];
}

/** Its own view Lease and the ownership Leases of the exclusive peripherals attached to it (renewed while it holds one). */
export function writableLeases(box: BoxSpec, m: ModuleSpec): string[] {
  const peripherals = box.spec.peripherals.filter((p) => p.exclusive && p.attachedTo.includes(m.name)).map((p) => peripheralLeaseName(p.name));
  return [agentLeaseName(m.name), ...peripherals];
}

export function moduleLeaseRules(box: BoxSpec, m: ModuleSpec): Rule[] {
  return [
    // The role loop reads the other agents' control-plane reports.
    rule(['coordination.k8s.io'], ['leases'], ['list']),
    // Create cannot be scoped by name: the admission policy lets an agent create its own view Lease only.
    rule(['coordination.k8s.io'], ['leases'], ['create']),
    rule(['coordination.k8s.io'], ['leases'], ['get', 'update'], writableLeases(box, m)),
  ];
}

const RBAC = 'rbac.authorization.k8s.io';
const subject = (m: ModuleSpec) => ({ kind: 'ServiceAccount', name: agentServiceAccount(m.name), namespace: SYSTEM_NAMESPACE });

export function renderAgentRbac(box: BoxSpec): KubeObject[] {
  const labels = { ...boxLabels(box), [COMPONENT_LABEL]: COMPONENT };
  const meta = (name: string) => ({ name, labels: { ...labels } });
  const perModule = box.spec.modules.flatMap((m) =>
    serviceAccountRbac({
      name: agentServiceAccount(m.name),
      namespace: SYSTEM_NAMESPACE,
      labels,
      clusterRules: moduleClusterRules(box, m),
      namespacedRules: moduleLeaseRules(box, m),
    }),
  );
  return [
    { apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: meta(AGENT_SHARED_NAME), rules: sharedAgentRules(box) },
    {
      apiVersion: `${RBAC}/v1`,
      kind: 'ClusterRoleBinding',
      metadata: meta(AGENT_SHARED_NAME),
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: AGENT_SHARED_NAME },
      subjects: box.spec.modules.map(subject),
    },
    ...perModule,
    ...renderAgentPolicy().map((o) => ({ ...o, metadata: { ...o.metadata, labels: { ...labels } } })),
  ];
}
