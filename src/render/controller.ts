import { createRequire } from 'node:module';
import { stringify } from 'yaml';
import { EDGEBOX_CRD, GROUP, PLURAL } from '../crd/edgebox-crd.js';
import { LABELS } from '../contract/labels.js';
import type { BoxSpec } from '../spec/schema.js';
import { boxLabels, type KubeObject } from './kube-object.js';
import { priorityClassName } from './priority-classes.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { CONTROLLER_METRICS_PORT } from '../contract/metrics.js';
import { CONTROLLER_NODE_OPTIONS } from '../contract/controller-process.js';
import { boxUsesBmc } from '../power/drivers.js';

/**
 * The in-cluster objects of `edgebox controller` (docs/controller.md): its namespace, the
 * EdgeBox CRD, its ServiceAccount with only the verbs it uses, and a leader-elected Deployment
 * of two replicas that carries the box spec. Pure and deterministic.
 */

export const CONTROLLER_NAME = 'edgebox-controller';
/** On every controller object: render puts them in their own file, and tests find them by it. */
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
const COMPONENT = 'controller';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** The environment variable that carries the box spec itself into the controller's pods. */
export const SPEC_ENV = 'EDGEBOX_SPEC';
/** Where the Turing Pi BMC login comes from, when the box has one (created by hand, never rendered). */
export const BMC_SECRET = 'edgebox-bmc';
const BMC_MOUNT = '/etc/edgebox/bmc';

/** This package's version: the controller image is tagged with it. */
export const EDGEBOX_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
/** Placeholder until the project publishes an image: built from this package, entrypoint `edgebox`. */
export const CONTROLLER_IMAGE = `ghcr.io/edgebox/edgebox:${EDGEBOX_VERSION}`;

const rule = (apiGroups: string[], resources: string[], verbs: string[]) => ({ apiGroups, resources, verbs });

/**
 * What the controller does with each resource, and nothing more (src/controller): nodes are
 * watched and patched (taint, annotations: fencing, and the guardian's desired roles and member
 * removals, src/controller/guardian, which needs no verb beyond these); pods watched and force-deleted; Events created;
 * Deployments and StatefulSets read for their uid (their Events); the EdgeBox read and its
 * status replaced. Leases are granted per namespace (Roles below), not cluster-wide.
 */
export const CLUSTER_RULES = [
  rule([''], ['nodes'], ['list', 'watch', 'patch']),
  rule([''], ['pods'], ['list', 'watch', 'delete']),
  rule([''], ['events'], ['create']),
  rule(['apps'], ['deployments', 'statefulsets'], ['get']),
  rule([GROUP], [PLURAL], ['get']),
  rule([GROUP], [`${PLURAL}/status`], ['update']),
];
/** Its leader Lease (get, create, update), the agents' Leases (list, watch) and the peripherals' ownership Leases (create, patch). */
export const SYSTEM_LEASE_RULES = [rule(['coordination.k8s.io'], ['leases'], ['get', 'list', 'watch', 'create', 'update', 'patch'])];
/** The kubelets' heartbeats. */
export const NODE_LEASE_RULES = [rule(['coordination.k8s.io'], ['leases'], ['list', 'watch'])];

/** What the controller's pods carry and its Deployment and metrics Service select. */
export function controllerPodLabels(box: BoxSpec): Record<string, string> {
  return { 'app.kubernetes.io/name': CONTROLLER_NAME, [LABELS.box]: box.metadata.name };
}

export function renderController(box: BoxSpec): KubeObject[] {
  const labels = { ...boxLabels(box), [COMPONENT_LABEL]: COMPONENT };
  const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}), labels: { ...labels } });
  const subjects = () => [{ kind: 'ServiceAccount', name: CONTROLLER_NAME, namespace: SYSTEM_NAMESPACE }];
  const roleRef = (kind: 'ClusterRole' | 'Role') => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name: CONTROLLER_NAME });
  const podLabels = controllerPodLabels(box);
  const spec = { apiVersion: box.apiVersion, kind: box.kind, metadata: { name: box.metadata.name }, spec: box.spec };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: meta(SYSTEM_NAMESPACE) },
    // As src/crd defines it, unlabelled: discovery installs the same object with the same field
    // manager, and labels only one of them set would flip back and forth. Copied through JSON:
    // its schema shares one object in several places, which YAML would write as anchors.
    JSON.parse(JSON.stringify(EDGEBOX_CRD)) as KubeObject,
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(CONTROLLER_NAME, SYSTEM_NAMESPACE) },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(CONTROLLER_NAME), rules: CLUSTER_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(CONTROLLER_NAME),
      roleRef: roleRef('ClusterRole'),
      subjects: subjects(),
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(CONTROLLER_NAME, SYSTEM_NAMESPACE), rules: SYSTEM_LEASE_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(CONTROLLER_NAME, SYSTEM_NAMESPACE),
      roleRef: roleRef('Role'),
      subjects: subjects(),
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(CONTROLLER_NAME, NODE_LEASE_NAMESPACE), rules: NODE_LEASE_RULES },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(CONTROLLER_NAME, NODE_LEASE_NAMESPACE),
      roleRef: roleRef('Role'),
      subjects: subjects(),
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(CONTROLLER_NAME, SYSTEM_NAMESPACE),
      spec: {
        // Two replicas, one leader: the standby takes over within a lease (4 s) of losing it.
        replicas: 2,
        selector: { matchLabels: { ...podLabels } },
        template: {
          // The box label makes the leader release a standby stuck on a fenced module like any pod.
          metadata: { labels: { ...podLabels } },
          spec: {
            serviceAccountName: CONTROLLER_NAME,
            priorityClassName: priorityClassName('critical'),
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [{ matchExpressions: [{ key: LABELS.box, operator: 'In', values: [box.metadata.name] }] }],
                },
              },
              // Apart if possible: one module's death must not take both replicas.
              podAntiAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [
                  {
                    weight: 100,
                    podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { ...podLabels } } },
                  },
                ],
              },
            },
            // Server-only modules take critical add-ons only; the controller is one.
            tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }],
            ...(boxUsesBmc(box)
              ? { volumes: [{ name: 'bmc', secret: { secretName: BMC_SECRET, optional: true, items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] }
              : {}),
            containers: [
              {
                name: 'controller',
                image: CONTROLLER_IMAGE,
                args: ['controller', '--metrics-address', '0.0.0.0', '--metrics-port', String(CONTROLLER_METRICS_PORT)],
                env: [
                  // The spec rides in the pod template, not a ConfigMap: a changed spec changes the
                  // template, so the controllers restart with it.
                  { name: SPEC_ENV, value: stringify(spec, { lineWidth: 0 }) },
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'NODE_OPTIONS', value: CONTROLLER_NODE_OPTIONS },
                  ...(['username', 'password'] as const).map((key) => ({
                    name: `EDGEBOX_BMC_${key.toUpperCase()}`,
                    valueFrom: { secretKeyRef: { name: BMC_SECRET, key, optional: true } },
                  })),
                  // The BMC's self-signed certificate, from the same Secret (`ca.crt`; install puts it
                  // there with --bmc-ca). Only for a box with a BMC: without the file Node warns once.
                  ...(boxUsesBmc(box) ? [{ name: 'NODE_EXTRA_CA_CERTS', value: `${BMC_MOUNT}/ca.crt` }] : []),
                ],
                ...(boxUsesBmc(box) ? { volumeMounts: [{ name: 'bmc', mountPath: BMC_MOUNT, readOnly: true }] } : {}),
                ports: [{ name: 'metrics', containerPort: CONTROLLER_METRICS_PORT }],
                readinessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 5 },
                resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '192Mi' } },
              },
            ],
          },
        },
      },
    },
  ];
}
