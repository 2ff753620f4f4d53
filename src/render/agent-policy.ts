import { K3S_REMOVE_ANNOTATION, CONTROL_PLANE_ANNOTATIONS } from '../contract/control-plane.js';
import { AGENT_POLICY_NAME, AGENT_USERNAME_PREFIX } from '../contract/identity.js';
import { capabilityLabel, DISCOVERED_PREFIX, LABELS, PUBLISHED_RESOURCES_ANNOTATION } from '../contract/labels.js';
import { agentLeaseName } from '../contract/leases.js';
import { PEER_VIEW_ANNOTATION } from '../contract/peer-view.js';
import { PERIPHERAL_ANNOTATIONS, PERIPHERAL_LEASE_PREFIX } from '../contract/peripherals.js';
import type { KubeObject } from './kube-object.js';

/**
 * The admission policy that keeps each agent to what its module may say
 * (docs/decisions/0005-one-identity-per-module.md), for what RBAC cannot express: RBAC says which
 * objects an agent may write, this says what it may change in them. The module is read back from
 * the request's user name (`system:serviceaccount:edgebox-system:edgebox-agent-<module>`), like
 * NodeRestriction reads a kubelet's node from `system:node:<name>`. Requests by anyone else are
 * not matched; a request the policy cannot evaluate is refused (failurePolicy Fail).
 */

const q = (s: string) => `'${s}'`;

/** CEL for a map's value under `key` (no CEL identifier: `edgebox.dev/...`), '' when absent. */
const get = (map: string, key: string) => `${map}[?${q(key)}].orValue('')`;

/** CEL for "a Lease's spec field is the same before and after", absent on both sides included. */
const same = (field: string) =>
  `(has(object.spec.${field}) == has(oldObject.spec.${field}) && (!has(object.spec.${field}) || object.spec.${field} == oldObject.spec.${field}))`;

/** CEL for "these are the keys whose value differs between two string maps". */
const changedKeys = (a: string, b: string) => `${a}.filter(k, !(k in ${b}) || ${b}[k] != ${a}[k]) + ${b}.filter(k, !(k in ${a}))`;

/** Named CEL values the validations share; `object`/`oldObject` are null where the operation has none. */
export const POLICY_VARIABLES: { name: string; expression: string }[] = [
  { name: 'module', expression: `request.userInfo.username.substring(${AGENT_USERNAME_PREFIX.length})` },
  // Absent, not empty, on a request for the object itself.
  { name: 'subresource', expression: "request.?subResource.orValue('')" },
  { name: 'isNode', expression: `request.resource.resource == 'nodes'` },
  { name: 'isLease', expression: `request.resource.resource == 'leases'` },
  { name: 'own', expression: 'object.metadata.name == variables.module' },
  { name: 'newLabels', expression: 'object.metadata.?labels.orValue({})' },
  { name: 'oldLabels', expression: `request.operation == 'UPDATE' ? oldObject.metadata.?labels.orValue({}) : {}` },
  { name: 'newAnnotations', expression: 'object.metadata.?annotations.orValue({})' },
  { name: 'oldAnnotations', expression: `request.operation == 'UPDATE' ? oldObject.metadata.?annotations.orValue({}) : {}` },
  { name: 'changedLabels', expression: changedKeys('variables.newLabels', 'variables.oldLabels') },
  { name: 'changedAnnotations', expression: changedKeys('variables.newAnnotations', 'variables.oldAnnotations') },
  { name: 'ownView', expression: `variables.isLease && object.metadata.name == ${q(agentLeaseName(''))} + variables.module` },
  {
    name: 'peripheralLease',
    expression: `variables.isLease && request.operation == 'UPDATE' && object.metadata.name.startsWith(${q(PERIPHERAL_LEASE_PREFIX)})`,
  },
  { name: 'peerView', expression: `${get('variables.newAnnotations', PEER_VIEW_ANNOTATION)}` },
  {
    name: 'releaseConfirmed',
    expression: `${get('variables.newAnnotations', PERIPHERAL_ANNOTATIONS.releasedToken)} == ${get('variables.oldAnnotations', PERIPHERAL_ANNOTATIONS.releasedToken)} || ${get('variables.newAnnotations', PERIPHERAL_ANNOTATIONS.releasedToken)} == string(object.spec.?leaseTransitions.orValue(0))`,
  },
];

/** Labels an agent may change on its own Node: what discovery found (hardware only while the spec set none). */
const AGENT_LABEL = [
  `k.startsWith(${q(capabilityLabel(''))})`,
  `k.startsWith(${q(`${DISCOVERED_PREFIX}/`)})`,
  `(k == ${q(LABELS.hardware)} && !(k in variables.oldLabels))`,
].join(' || ');

const validation = (expression: string, message: string) => ({ expression, message, reason: 'Forbidden' });

export const POLICY_VALIDATIONS = [
  validation(
    `!variables.isNode || variables.own || (variables.subresource == '' && object.spec == oldObject.spec && size(variables.changedLabels) == 0 && ` +
      `variables.changedAnnotations == [${q(K3S_REMOVE_ANNOTATION)}] && variables.newAnnotations[${q(K3S_REMOVE_ANNOTATION)}] == 'true' && ` +
      `${get('variables.oldAnnotations', CONTROL_PLANE_ANNOTATIONS.etcdRemove)} == 'true')`,
    `an agent writes another module's Node only to mark its etcd member for removal (${K3S_REMOVE_ANNOTATION}) after the guardian asked for it (${CONTROL_PLANE_ANNOTATIONS.etcdRemove})`,
  ),
  validation(
    `!variables.isNode || !variables.own || variables.subresource != '' || object.spec == oldObject.spec`,
    "an agent never changes its Node's spec: taints, fence taints included, are the controller's and edgebox apply's",
  ),
  validation(
    `!variables.isNode || !variables.own || variables.subresource != '' || variables.changedLabels.all(k, ${AGENT_LABEL})`,
    `an agent changes only the labels discovery owns on its Node: ${capabilityLabel('*')}, ${DISCOVERED_PREFIX}/*, and ${LABELS.hardware} while unset`,
  ),
  validation(
    `!variables.isNode || !variables.own || variables.subresource != '' || variables.changedAnnotations.all(k, k == ${q(PUBLISHED_RESOURCES_ANNOTATION)})`,
    `an agent changes only the ${PUBLISHED_RESOURCES_ANNOTATION} annotation on its Node: the others are the controller's and the guardian's`,
  ),
  validation(
    `!variables.isLease || request.operation != 'CREATE' || variables.ownView`,
    `an agent creates only its own view Lease, ${agentLeaseName('<module>')}: the peripherals' ownership Leases are the controller's`,
  ),
  validation(
    `!variables.isLease || request.operation != 'UPDATE' || variables.ownView || variables.peripheralLease`,
    'an agent updates only its own view Lease and the ownership Leases of the peripherals it holds',
  ),
  validation(
    `!variables.ownView || (object.spec.?holderIdentity.orValue('') == variables.module && ${get('variables.newLabels', LABELS.module)} == variables.module)`,
    `an agent's view Lease names its own module as holder and in ${LABELS.module}`,
  ),
  // A view that claims to have heard a peer after it was written would outlive the peer's death;
  // the controller ignores such a view too (src/controller/observe.ts). No backslash: a JSON escape
  // would hide a "lastSeen" key from the pattern while JSON.parse still reads it.
  validation(
    `!variables.ownView || (!variables.peerView.contains('\\\\') && has(object.spec.renewTime) && ` +
      `variables.peerView.findAll('"lastSeen"\\\\s*:\\\\s*"[^"]*"').all(s, timestamp(s.split('"')[3]) <= timestamp(object.spec.renewTime)))`,
    `an agent's view may not claim a lastSeen later than its own renewTime, nor hide one behind a JSON escape (${PEER_VIEW_ANNOTATION})`,
  ),
  validation(
    `!variables.peripheralLease || (oldObject.spec.?holderIdentity.orValue('') == variables.module && ` +
      `${['holderIdentity', 'leaseTransitions', 'acquireTime', 'leaseDurationSeconds'].map(same).join(' && ')} && ` +
      `size(variables.changedLabels) == 0 && variables.changedAnnotations.all(k, k == ${q(PERIPHERAL_ANNOTATIONS.releasedToken)}) && variables.releaseConfirmed)`,
    "an agent renews a peripheral's ownership Lease only while it holds it, and changes only its renewTime and the release confirmation: holder, token and times are the controller's",
  ),
];

/** The policy and its binding: every agent's writes to Nodes and to Leases, all namespaces (RBAC keeps agents' Leases to edgebox-system). */
export function renderAgentPolicy(): KubeObject[] {
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: AGENT_POLICY_NAME },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes', 'nodes/status'] },
            { apiGroups: ['coordination.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['leases'] },
          ],
        },
        matchConditions: [{ name: 'edgebox-agent', expression: `request.userInfo.username.startsWith(${q(AGENT_USERNAME_PREFIX)})` }],
        variables: POLICY_VARIABLES,
        validations: POLICY_VALIDATIONS,
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: AGENT_POLICY_NAME },
      spec: { policyName: AGENT_POLICY_NAME, validationActions: ['Deny'] },
    },
  ];
}
