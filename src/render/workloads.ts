import { capabilityLabel, LABELS, peripheralLabel } from '../contract/labels.js';
import type { BoxSpec, WorkloadSpec } from '../spec/schema.js';
import { selectorLabels, workloadLabels, type KubeObject } from './kube-object.js';
import { placementTolerations, type Toleration } from './node-metadata.js';
import { priorityClassName } from './priority-classes.js';
import { NVIDIA_RUNTIME_CLASS, usesNvidiaRuntime } from './gpu-runtime.js';
import { TUNED } from './tuning.js';
import { ownsLabel } from '../contract/peripherals.js';
import { OUT_OF_SERVICE_TAINT } from '../contract/taints.js';

/** The taints the node lifecycle controller puts on a module it stops hearing from. */
export const FAILOVER_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'] as const;

export interface NodeSelectorRequirement {
  key: string;
  operator: 'In';
  values: string[];
}

/**
 * Required node affinity: a module of this box (a cluster may hold other nodes), with every
 * capability the workload requires and every peripheral it uses. These are the labels
 * nodeLabels() puts on each module's node, so the scheduler sees what the planner saw; and, for
 * an exclusive peripheral, the owner label the controller keeps on its one owner's node.
 */
export function affinityRequirements(box: BoxSpec, w: WorkloadSpec): NodeSelectorRequirement[] {
  const is = (key: string, value: string): NodeSelectorRequirement => ({ key, operator: 'In', values: [value] });
  return [
    is(LABELS.box, box.metadata.name),
    ...[...new Set(w.requires.capabilities)].map((c) => is(capabilityLabel(c), 'true')),
    ...[...new Set(w.peripherals)].map((p) => is(peripheralLabel(p), 'true')),
    // An exclusive peripheral is driven from its owner only (the controller labels that node).
    ...[...new Set(w.peripherals)].filter((p) => box.spec.peripherals.some((x) => x.name === p && x.exclusive)).map((p) => is(ownsLabel(p), 'true')),
  ];
}

/**
 * How long a pod stays on a module that stopped reporting, by criticality (TUNED.tolerationSeconds).
 * Written on the pod, these replace the 300 s the DefaultTolerationSeconds admission plugin would
 * add. Not for DaemonSets: their controller overwrites these tolerations with unbounded ones (a
 * daemon pod belongs to its node and has nowhere else to go).
 */
export function failoverTolerations(w: WorkloadSpec): Toleration[] {
  if (w.kind === 'daemonset') return [];
  const seconds = TUNED.tolerationSeconds[w.criticality];
  return [
    ...FAILOVER_TAINTS.map((key) => ({ key, operator: 'Exists' as const, effect: 'NoExecute' as const, tolerationSeconds: seconds })),
    // A singleton is not evicted by the out-of-service taint: the controller releases it itself,
    // and on a module fenced by that taint alone only once the module has had time to stop it
    // (self-fencing, docs/decisions/0001-self-healing.md); its other pods move at once.
    ...(w.singleton ? [{ key: OUT_OF_SERVICE_TAINT.key, operator: 'Exists' as const, effect: 'NoExecute' as const }] : []),
  ];
}

/**
 * Requests from the spec, which the planner packs modules by. Memory limit = request: these
 * modules have a few GB and no swap, so a container that grows past what the planner reserved
 * for it would push its module into memory pressure and get some other pod (maybe a critical
 * one) evicted or OOM-killed; with the limit, only the container that overran is killed. No CPU
 * limit: CPU is compressible, and CFS throttling would add latency to control loops while spare
 * cores sit idle.
 */
export function containerResources(w: WorkloadSpec): Record<string, Record<string, string>> | undefined {
  const { cpu, memory } = w.requires;
  if (cpu === undefined && memory === undefined) return undefined;
  return {
    requests: { ...(cpu !== undefined ? { cpu } : {}), ...(memory !== undefined ? { memory } : {}) },
    ...(memory !== undefined ? { limits: { memory } } : {}),
  };
}

/**
 * A PDB when the workload has replicas to spare: replicas >= 2 -> maxUnavailable 1, so a drain
 * takes them one at a time. None for one replica (minAvailable 1 would block every drain
 * forever, maxUnavailable 1 would allow everything anyway), nor for DaemonSets (drains skip
 * their pods).
 */
export function needsDisruptionBudget(w: WorkloadSpec): boolean {
  return w.kind !== 'daemonset' && w.replicas >= 2;
}

function podTemplate(box: BoxSpec, w: WorkloadSpec): Record<string, unknown> {
  const tolerations = [...placementTolerations(box, w), ...failoverTolerations(w)];
  const resources = containerResources(w);
  // Spreading is a preference (ScheduleAnyway): a hard spread would keep a replacement from
  // landing beside its sibling when one of two capable modules dies, which is exactly when it
  // must. One replica has nothing to spread; a DaemonSet spreads by construction.
  const spread = w.kind !== 'daemonset' && w.replicas >= 2;
  return {
    // The singleton label is not in the selector (immutable): the spec may make a workload a singleton later.
    metadata: { labels: { ...selectorLabels(box, w), [LABELS.criticality]: w.criticality, ...(w.singleton ? { [LABELS.singleton]: 'true' } : {}) } },
    spec: {
      priorityClassName: priorityClassName(w.criticality),
      ...(usesNvidiaRuntime(w) ? { runtimeClassName: NVIDIA_RUNTIME_CLASS } : {}),
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: affinityRequirements(box, w) }] },
        },
      },
      ...(tolerations.length ? { tolerations } : {}),
      ...(spread
        ? {
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: 'kubernetes.io/hostname',
                whenUnsatisfiable: 'ScheduleAnyway',
                labelSelector: { matchLabels: selectorLabels(box, w) },
              },
            ],
          }
        : {}),
      containers: [
        {
          name: w.name,
          image: w.image,
          ...(resources ? { resources } : {}),
          ...(w.storage ? { volumeMounts: [{ name: STORAGE_VOLUME, mountPath: w.storage.mountPath }] } : {}),
        },
      ],
    },
  };
}

function meta(box: BoxSpec, w: WorkloadSpec): KubeObject['metadata'] {
  return { name: w.name, namespace: box.metadata.name, labels: workloadLabels(box, w) };
}

function deployment(box: BoxSpec, w: WorkloadSpec): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(box, w),
    spec: {
      replicas: w.replicas,
      selector: { matchLabels: selectorLabels(box, w) },
      // Singleton: Recreate stops the old pod before starting the new one, so a rollout never
      // runs two copies (RollingUpdate would surge a second one). Otherwise a rolling update
      // that never lowers the running count. Rendering rollingUpdate explicitly makes edgebox
      // own the field, so server-side apply removes it when a workload becomes a singleton
      // (the API server rejects Recreate beside a left-over rollingUpdate).
      strategy: w.singleton ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: podTemplate(box, w),
    },
  };
}

function statefulSet(box: BoxSpec, w: WorkloadSpec): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(box, w),
    spec: {
      serviceName: w.name,
      replicas: w.replicas,
      // Edgebox workloads declare no start order. With the default OrderedReady, one pod stuck
      // Terminating on a dead module would stop the controller from replacing any other pod.
      // A singleton needs nothing more: a StatefulSet never starts a pod while the pod of the
      // same identity still exists, even on an unreachable module.
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(box, w) },
      template: podTemplate(box, w),
      ...(w.storage ? { volumeClaimTemplates: [volumeClaim(w.storage)] } : {}),
    },
  };
}

/** The name of a statefulset's own volume, in its claim template and its container's mount. */
const STORAGE_VOLUME = 'data';

/**
 * One ReadWriteOnce claim per pod. Kubernetes attaches it to one module at a time: after a module
 * dies, the attach-detach controller frees it for the replacement only once the module is fenced
 * (the out-of-service taint; otherwise it waits 6 minutes for an unmount the dead kubelet never
 * reports). The claim templates of a StatefulSet cannot change once created.
 */
function volumeClaim(storage: NonNullable<WorkloadSpec['storage']>): Record<string, unknown> {
  return {
    metadata: { name: STORAGE_VOLUME },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
      resources: { requests: { storage: storage.size } },
    },
  };
}

/** The governing Service a StatefulSet names: headless, so each pod gets its own DNS name. */
function headlessService(box: BoxSpec, w: WorkloadSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(box, w),
    spec: { clusterIP: 'None', selector: selectorLabels(box, w) },
  };
}

function daemonSet(box: BoxSpec, w: WorkloadSpec): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(box, w),
    spec: { selector: { matchLabels: selectorLabels(box, w) }, template: podTemplate(box, w) },
  };
}

function disruptionBudget(box: BoxSpec, w: WorkloadSpec): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(box, w),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(box, w) },
      // A pod that is not Ready (crash-looping, stuck) protects nothing; letting drains evict it
      // keeps a broken replica from blocking maintenance forever.
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}

/** A workload's objects in apply order: a StatefulSet's Service first, its PDB last. */
export function renderWorkload(box: BoxSpec, w: WorkloadSpec): KubeObject[] {
  const pdb = needsDisruptionBudget(w) ? [disruptionBudget(box, w)] : [];
  switch (w.kind) {
    case 'deployment':
      return [deployment(box, w), ...pdb];
    case 'statefulset':
      return [headlessService(box, w), statefulSet(box, w), ...pdb];
    case 'daemonset':
      return [daemonSet(box, w)];
  }
}
