import { PREFIX } from '../contract/labels.js';

/**
 * The local box's simulated storage: what a CSI driver's controller side (external-provisioner
 * and external-attacher) and a kubelet's volume manager would do, decided here, applied by
 * `storage-process.ts`. Network storage (an NFS or iSCSI target on the box) that any module can
 * attach, one module at a time.
 *
 * The point is the path a StatefulSet's volume takes when its module dies, which is the real one:
 * the real attach-detach controller in kube-controller-manager creates and deletes the
 * VolumeAttachments, and refuses to detach a volume from a node that still reports it in use
 * (`status.volumesInUse`, which only a live kubelet clears) for 6 minutes, unless the node has
 * the out-of-service taint. A killed module's node keeps its last `volumesInUse`, as a dead
 * kubelet's does, so the replacement pod gets its volume only through fencing. A pod with a
 * claim becomes Ready (KWOK's stage, kwok-stages.ts) only once its volumes are attached to its
 * node, as a kubelet waits for the attach before it mounts.
 */

/** The CSI driver name the simulated storage answers to. */
export const SIM_DRIVER = 'csi.local.edgebox.dev';
/** The box's default StorageClass, provisioned by the simulated driver. */
export const SIM_STORAGE_CLASS = 'edgebox-local';
/** Set on a pod once every volume it claims is attached to its node: KWOK's gate for Ready. */
export const VOLUMES_ATTACHED_ANNOTATION = `${PREFIX}/local-volumes`;
export const VOLUMES_ATTACHED = 'attached';

export interface SimClaim {
  namespace: string;
  name: string;
  uid: string;
  storageClassName?: string;
  /** The PV it is bound to. */
  volumeName?: string;
  size: string;
  accessModes: string[];
}

export interface SimVolume {
  name: string;
  /** The CSI driver, when it is a CSI volume. */
  driver?: string;
  volumeHandle?: string;
  phase?: string;
  reclaimDelete: boolean;
}

export interface SimAttachment {
  name: string;
  attacher: string;
  node: string;
  volume?: string;
  attached: boolean;
  deleting: boolean;
}

export interface SimPod {
  namespace: string;
  name: string;
  node?: string;
  /** The claims its volumes name. */
  claims: string[];
  annotated: boolean;
  /** Deleted, or finished: its volumes are no longer in use. */
  gone: boolean;
}

export interface SimNode {
  name: string;
  /** KWOK plays it: a live kubelet. A killed module's node changes no more. */
  live: boolean;
  volumesInUse: string[];
}

export interface ObservedStorage {
  claims: SimClaim[];
  volumes: SimVolume[];
  attachments: SimAttachment[];
  pods: SimPod[];
  nodes: SimNode[];
}

export type StorageAction =
  | { type: 'provision'; claim: SimClaim; volume: string }
  | { type: 'attach'; attachment: string }
  | { type: 'delete-volume'; volume: string }
  | { type: 'mark-pod'; namespace: string; name: string }
  | { type: 'volumes-in-use'; node: string; volumes: string[] };

/** The PV the simulated provisioner makes for a claim (external-provisioner names it the same way). */
export function volumeNameFor(claim: SimClaim): string {
  return `pvc-${claim.uid}`;
}

/** The name the attach-detach controller and the kubelet give a CSI volume in `volumesInUse`. */
export function uniqueVolumeName(driver: string, handle: string): string {
  return `kubernetes.io/csi/${driver}^${handle}`;
}

/** What to do next. Pure; every action is idempotent (the shell ignores "already done"). */
export function planStorage(o: ObservedStorage): StorageAction[] {
  const actions: StorageAction[] = [];
  const volumes = new Map(o.volumes.map((v) => [v.name, v]));
  const ours = (v: SimVolume | undefined): v is SimVolume & { volumeHandle: string } => v?.driver === SIM_DRIVER && v.volumeHandle !== undefined;
  const live = new Set(o.nodes.filter((n) => n.live).map((n) => n.name));

  for (const c of o.claims) {
    if (c.volumeName === undefined && c.storageClassName === SIM_STORAGE_CLASS && !volumes.has(volumeNameFor(c))) {
      actions.push({ type: 'provision', claim: c, volume: volumeNameFor(c) });
    }
  }
  for (const v of o.volumes) if (ours(v) && v.phase === 'Released' && v.reclaimDelete) actions.push({ type: 'delete-volume', volume: v.name });
  // The storage side attaches to any module that answers; a dead one cannot be attached to.
  for (const a of o.attachments) {
    if (a.attacher === SIM_DRIVER && !a.attached && !a.deleting && live.has(a.node)) actions.push({ type: 'attach', attachment: a.name });
  }

  const claims = new Map(o.claims.map((c) => [`${c.namespace}/${c.name}`, c]));
  const attachedOn = new Set(o.attachments.filter((a) => a.attached && !a.deleting && a.volume).map((a) => `${a.volume}@${a.node}`));
  /** The unique names of a pod's simulated volumes, or undefined while one is not attached to its node. */
  const podVolumes = (p: SimPod & { node: string }): string[] | undefined => {
    const names: string[] = [];
    for (const claimName of p.claims) {
      const c = claims.get(`${p.namespace}/${claimName}`);
      const v = c?.volumeName === undefined ? undefined : volumes.get(c.volumeName);
      if (c === undefined || c.volumeName === undefined || v === undefined) return undefined;
      if (!ours(v)) continue;
      if (!attachedOn.has(`${v.name}@${p.node}`)) return undefined;
      names.push(uniqueVolumeName(SIM_DRIVER, v.volumeHandle));
    }
    return names;
  };

  const inUse = new Map<string, Set<string>>();
  for (const p of o.pods) {
    if (p.node === undefined || !live.has(p.node) || p.gone || p.claims.length === 0) continue;
    const names = podVolumes(p as SimPod & { node: string });
    if (names === undefined) continue;
    if (!p.annotated) actions.push({ type: 'mark-pod', namespace: p.namespace, name: p.name });
    const set = inUse.get(p.node) ?? new Set<string>();
    for (const n of names) set.add(n);
    inUse.set(p.node, set);
  }
  for (const n of o.nodes) {
    if (!n.live) continue;
    const want = [...(inUse.get(n.name) ?? [])].sort();
    const have = [...n.volumesInUse].sort();
    if (want.join('\n') !== have.join('\n')) actions.push({ type: 'volumes-in-use', node: n.name, volumes: want });
  }
  return actions;
}
