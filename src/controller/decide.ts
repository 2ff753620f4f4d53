import { nodeOfModule } from '../apply/node-plan.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import { failoverOf, fenceMethodOf, SELF_FENCE_MARGIN_MS, type AgentView, type ObservedNode, type ObservedNodeLease, type ObservedPod } from './model.js';
import { type Taint, FENCE_TAINTS, hasTaint } from '../contract/taints.js';
import { FENCE_ANNOTATIONS, type FenceMethod, type FailoverRecord, formatFailover } from '../contract/fencing.js';

/**
 * The pure decision core of the controller (docs/decisions/0001-self-healing.md): the state the
 * informers hold in, the actions that move the box one step towards safety out. No I/O, no
 * clock of its own, no memory between calls: a new leader given the same state decides the same.
 */

export interface Observed {
  /** ms since the epoch, this host's clock: for the records people read (detectedAt, fencedAt), never for an age. */
  now: number;
  /** This host's monotonic clock (ms), on which every Lease's `observedAt` is: what ages are measured on. */
  mono: number;
  /** When this process started observing (monotonic ms): a Lease it never saw renewed counts as renewed then. */
  since: number;
  box: BoxSpec;
  nodes: ObservedNode[];
  nodeLeases: ObservedNodeLease[];
  views: AgentView[];
  pods: ObservedPod[];
}

/**
 * A change to one Node, applied with `resourceVersion` as precondition: the decision was made
 * on that version, and if the node changed since, the next pass decides again on the new one.
 * `annotations`: null removes a key. `taints`: the node's whole new taint list.
 */
export interface NodePatch {
  node: string;
  resourceVersion: string;
  annotations?: Record<string, string | null>;
  taints?: Taint[];
}

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
  workload: string | undefined;
}

export type Action =
  /** A quorum agrees the module is dead: record the failover (Event ModuleFailed). */
  | { type: 'detect'; module: string; patch: NodePatch; record: FailoverRecord }
  /** The module recovered before it was fenced: forget the detection. */
  | { type: 'cancel-detection'; module: string; patch: NodePatch }
  /**
   * Power the module's slot off and confirm it is off; then `onConfirmed` (fence-method power),
   * otherwise the record with the driver's error, so the next pass fences by taint instead.
   */
  | { type: 'power-off'; module: string; driver: NonNullable<ModuleSpec['power']>; record: FailoverRecord; onConfirmed: NodePatch }
  /**
   * Put the out-of-service taint on the node. `method` is set when this is the fence itself
   * (no power driver, or it failed); unset when it follows a confirmed power-off.
   */
  | { type: 'taint'; module: string; patch: NodePatch; method?: FenceMethod; record: FailoverRecord }
  /** Force-delete the pods still bound to a fenced module; the patch records the release. */
  | { type: 'release-pods'; module: string; pods: PodRef[]; patch: NodePatch; record: FailoverRecord; first: boolean }
  /** Every released workload runs again elsewhere. */
  | { type: 'record-ready'; module: string; patch: NodePatch; record: FailoverRecord }
  | { type: 'mark-healthy'; module: string; patch: NodePatch }
  | { type: 'mark-unhealthy'; module: string; patch: NodePatch }
  /** Healthy for the whole settle time: remove the taint and the failover bookkeeping. */
  | { type: 'rejoin'; module: string; patch: NodePatch; record: FailoverRecord | undefined };

/** How a module looks right now to the other modules' agents and to its own node Lease. */
export interface Assessment {
  module: string;
  /** Fresh views of other modules of the spec that report on this module. */
  freshViews: string[];
  unreachableBy: string[];
  reachableBy: string[];
  /** Witnesses needed: floor((N-1)/2)+1 of the N-1 other modules, and never fewer than 2. */
  quorum: number;
  /** Highest suspicion any fresh view reports; 0 without fresh views. */
  suspicion: number;
  /** The latest time a witness (a fresh view reporting it unreachable) heard the module (ms), or null. */
  lastSeen: number | null;
  /** The node Lease has not been seen renewed for a whole renewal period plus NODE_LEASE_MARGIN_MS. */
  nodeLeaseStale: boolean;
  /** The node Lease was renewed within its duration. */
  nodeLeaseFresh: boolean;
  failed: boolean;
}

const HOUR_MS = 3_600_000;
/** The longest a fenced module waits before it rejoins, however often it failed. */
export const MAX_SETTLE_SECONDS = 600;

/**
 * Witnesses needed to declare a module failed. The design's majority of the other modules,
 * with a floor of 2: in a box of two modules the majority of the one other would be that one
 * agent alone, and one agent's view never fences anything (it may be the one cut off).
 */
export function witnessQuorum(moduleCount: number): number {
  return Math.max(2, Math.floor((moduleCount - 1) / 2) + 1);
}

/**
 * How often a node's Lease is renewed: a quarter of its duration, as the kubelet (and KWOK)
 * renew it (`renewInterval = leaseDuration / 4`, with 4 % jitter).
 */
export const nodeLeaseRenewMs = (durationSeconds: number): number => (durationSeconds * 1000) / 4;

/**
 * How much longer than one renewal period a node Lease may go unrenewed before its module counts
 * as gone: the kubelet's jitter (4 %), a slow API write, the watch's delivery. An agent that
 * restarts (crash, OOM kill, upgrade) leaves its kubelet renewing, so its module is never failed.
 */
export const NODE_LEASE_MARGIN_MS = 1000;

/**
 * How long a node Lease may go unrenewed, as this host saw it, before its module counts as gone:
 * two renewal periods plus the margin (one late renewal is no death), never longer than the
 * Lease's whole duration nor shorter than one period plus the margin (past it the Lease has expired by its holder's own statement). For the
 * tuned 2 s Lease that is 2 s; for Kubernetes' default 40 s Lease, 21 s. The chaos runner once saw
 * a live module's kubelet go 1.5 s between renewals of a 2 s Lease on a loaded machine (seed 1,
 * trial 11): one period plus the margin (1.5 s) fenced it.
 */
export const nodeLeaseStaleAfterMs = (durationSeconds: number): number => {
  const renew = nodeLeaseRenewMs(durationSeconds);
  return Math.max(renew + NODE_LEASE_MARGIN_MS, Math.min(durationSeconds * 1000, 2 * renew + NODE_LEASE_MARGIN_MS));
};

/** Renewed, as this host saw it, within its duration: ages on the observer's monotonic clock, never the writer's. */
export function isFresh(v: { observedAt: number | null; durationSeconds: number }, mono: number): boolean {
  return v.observedAt !== null && mono - v.observedAt <= v.durationSeconds * 1000;
}

export function assess(o: Pick<Observed, 'mono' | 'box' | 'nodeLeases' | 'views'>, module: string, nodeName: string | undefined): Assessment {
  const names = new Set(o.box.spec.modules.map((m) => m.name));
  // A view witnesses only once its renewal was seen happen: after an API outage the informers
  // re-list, and a dead agent's last Lease (written before it died) looks renewed now. On real K3s,
  // after a majority loss, two dead agents' views so resurrected, with node Leases not yet renewed
  // after the outage, fenced two live modules (bench:control-plane --engine k3s).
  const fresh = o.views.filter((v) => v.module !== module && names.has(v.module) && isFresh(v, o.mono) && !v.listedOnly && v.peers[module] !== undefined);
  const entries = fresh.map((v) => ({ by: v.module, e: v.peers[module]! }));
  const unreachableBy = entries
    .filter((x) => !x.e.reachable)
    .map((x) => x.by)
    .sort();
  const reachableBy = entries
    .filter((x) => x.e.reachable)
    .map((x) => x.by)
    .sort();
  // "When the witnesses last heard it" (their clocks, for the record): the views that report it
  // unreachable. A view that still hears it is no witness.
  const seen = entries
    .filter((x) => !x.e.reachable)
    .map((x) => x.e.lastSeen)
    .filter((t): t is number => t !== null);
  const lastSeen = seen.length ? Math.max(...seen) : null;
  const lease = nodeName === undefined ? undefined : o.nodeLeases.find((l) => l.node === nodeName);
  const nodeLeaseFresh = lease !== undefined && isFresh(lease, o.mono);
  // Not seen renewed for its whole duration (at least a period and a margin), on this host's monotonic clock: the
  // kubelet of a live module would have renewed by then, whatever its clock says and whether or
  // not its agent runs (docs/decisions/0004-clocks-and-faults.md). Never by comparing the kubelet's
  // renewTime with the agents' lastSeen: those are two hosts' wall clocks.
  const nodeLeaseStale = !lease || lease.observedAt === null || o.mono - lease.observedAt >= nodeLeaseStaleAfterMs(lease.durationSeconds);
  const quorum = witnessQuorum(o.box.spec.modules.length);
  return {
    module,
    freshViews: entries.map((x) => x.by).sort(),
    unreachableBy,
    reachableBy,
    quorum,
    suspicion: entries.reduce((m, x) => Math.max(m, x.e.suspicion), 0),
    lastSeen,
    nodeLeaseStale,
    nodeLeaseFresh,
    failed: unreachableBy.length >= quorum && nodeLeaseStale,
  };
}

/**
 * Back on its feet: its node is Ready and renews its Lease, and the agents hear it again (at
 * least one fresh view says reachable and none says unreachable).
 */
export function isHealthy(node: ObservedNode, a: Assessment): boolean {
  return node.ready === 'True' && a.nodeLeaseFresh && !a.failed && a.reachableBy.length > 0 && a.unreachableBy.length === 0;
}

/** The fence count a new fence gets: one more when the previous fence was less than an hour ago. */
export function nextFenceCount(node: ObservedNode, now: number): number {
  const previous = Date.parse(node.annotations[FENCE_ANNOTATIONS.fencedAt] ?? '');
  const count = Number.parseInt(node.annotations[FENCE_ANNOTATIONS.fenceCount] ?? '', 10);
  return !Number.isNaN(previous) && now - previous < HOUR_MS && count > 0 ? count + 1 : 1;
}

/** How long a module fenced `count` times in a row stays healthy before it rejoins: doubling, capped at 10 min. */
export function settleSeconds(settle: number, count: number): number {
  return Math.max(settle, Math.min(MAX_SETTLE_SECONDS, settle * 2 ** Math.max(0, count - 1)));
}

function fenceAnnotations(method: FenceMethod, node: ObservedNode, now: number): Record<string, string> {
  return {
    [FENCE_ANNOTATIONS.fenceMethod]: method,
    [FENCE_ANNOTATIONS.fencedAt]: new Date(now).toISOString(),
    [FENCE_ANNOTATIONS.fenceCount]: String(nextFenceCount(node, now)),
  };
}

/**
 * The earliest time (this host's monotonic clock) the singletons of a module fenced by the taint
 * alone may be released: when this controller saw its agent's last Lease renewal, plus the
 * self-fence bound and a margin (SELF_FENCE_MARGIN_MS). Nothing stopped such a module, so a
 * singleton there may still run until the module, cut off but alive, has stopped it itself; it
 * counts from the start of that write, which is before this host saw it. Without an agent Lease
 * seen renewed (its agent never reached the API), from when this controller started observing.
 */
export function selfFenceDeadline(o: Pick<Observed, 'box' | 'views' | 'since'>, module: string): number {
  const renewed = o.views.find((v) => v.module === module)?.observedAt ?? null;
  return (renewed ?? o.since) + o.box.spec.failover.selfFenceSeconds * 1000 + SELF_FENCE_MARGIN_MS;
}

const podKey = (namespace: string, workload: string) => `${namespace}/${workload}`;

/** Seconds are all a creationTimestamp keeps: a replacement made in the second of detection counts. */
const floorSecond = (t: number) => Math.floor(t / 1000) * 1000;

function replacementsReady(record: FailoverRecord, node: string, pods: readonly ObservedPod[]): boolean {
  return (record.workloads ?? []).every((w) =>
    pods.some(
      (p) =>
        p.workload !== undefined &&
        podKey(p.namespace, p.workload) === w &&
        p.node !== undefined &&
        p.node !== node &&
        p.ready &&
        !p.deleting &&
        p.createdAt >= floorSecond(record.detectedAt),
    ),
  );
}

function decideModule(o: Observed, m: ModuleSpec): Action | undefined {
  const node = nodeOfModule(
    o.nodes.map((n) => ({ metadata: { name: n.name, labels: n.labels } })),
    m.name,
  );
  if (!node) return undefined;
  const n = o.nodes.find((x) => x.name === node.metadata.name)!;
  const a = assess(o, m.name, n.name);
  const record = failoverOf(n);
  const method = fenceMethodOf(n);
  const patch = (p: Omit<NodePatch, 'node' | 'resourceVersion'>): NodePatch => ({ node: n.name, resourceVersion: n.resourceVersion, ...p });
  const tainted = FENCE_TAINTS.every((t) => hasTaint(n.taints, t));
  const withTaint = () => [...n.taints, ...FENCE_TAINTS.filter((t) => !hasTaint(n.taints, t))];

  if (method === undefined) {
    if (!a.failed) {
      return record ? { type: 'cancel-detection', module: m.name, patch: patch({ annotations: { [FENCE_ANNOTATIONS.failover]: null } }) } : undefined;
    }
    if (!record) {
      const detected: FailoverRecord = { detectedAt: o.now, lastSeenAt: a.lastSeen, witnesses: a.unreachableBy };
      return { type: 'detect', module: m.name, record: detected, patch: patch({ annotations: { [FENCE_ANNOTATIONS.failover]: formatFailover(detected) } }) };
    }
    if (m.power && record.powerError === undefined) {
      return { type: 'power-off', module: m.name, driver: m.power, record, onConfirmed: patch({ annotations: fenceAnnotations('power', n, o.now) }) };
    }
    return {
      type: 'taint',
      module: m.name,
      method: 'taint',
      record,
      patch: patch({ taints: tainted ? n.taints : withTaint(), annotations: fenceAnnotations('taint', n, o.now) }),
    };
  }

  // Fenced. The record is missing only if someone removed it by hand: rebuild what is known.
  const current: FailoverRecord = record ?? {
    detectedAt: Date.parse(n.annotations[FENCE_ANNOTATIONS.fencedAt] ?? '') || o.now,
    lastSeenAt: null,
    witnesses: [],
  };
  if (!tainted) return { type: 'taint', module: m.name, record: current, patch: patch({ taints: withTaint() }) };

  // Fencing is confirmed (the method is recorded and the taint is on): only now may anything
  // that ran on the module be replaced, singletons included.
  const bound = o.pods.filter((p) => p.node === n.name);
  // Fenced by the taint alone: the other pods go at once, singletons (which render lets tolerate
  // the taint) once the module has had time to stop them itself.
  const holdSingletons = method === 'taint' && o.mono < selfFenceDeadline(o, m.name);
  const releasable = holdSingletons ? bound.filter((p) => !p.singleton) : bound;
  if (releasable.length > 0 || current.releasedAt === undefined) {
    const tracked = bound.filter((p) => p.workload !== undefined && p.ownerKind !== 'DaemonSet').map((p) => podKey(p.namespace, p.workload!));
    const workloads = [...new Set([...(current.workloads ?? []), ...tracked])].sort();
    const releasedAt = current.releasedAt ?? o.now;
    const released: FailoverRecord = {
      ...current,
      releasedAt,
      workloads,
      ...(workloads.length === 0 && current.readyAt === undefined ? { readyAt: releasedAt } : {}),
    };
    return {
      type: 'release-pods',
      module: m.name,
      first: current.releasedAt === undefined,
      record: released,
      pods: releasable.map((p) => ({ namespace: p.namespace, name: p.name, uid: p.uid, workload: p.workload })),
      patch: patch({ annotations: { [FENCE_ANNOTATIONS.failover]: formatFailover(released) } }),
    };
  }
  if (current.readyAt === undefined && replacementsReady(current, n.name, o.pods)) {
    const ready: FailoverRecord = { ...current, readyAt: o.now };
    return { type: 'record-ready', module: m.name, record: ready, patch: patch({ annotations: { [FENCE_ANNOTATIONS.failover]: formatFailover(ready) } }) };
  }

  const since = Date.parse(n.annotations[FENCE_ANNOTATIONS.healthySince] ?? '');
  if (!isHealthy(n, a)) {
    return Number.isNaN(since)
      ? undefined
      : { type: 'mark-unhealthy', module: m.name, patch: patch({ annotations: { [FENCE_ANNOTATIONS.healthySince]: null } }) };
  }
  if (Number.isNaN(since)) {
    return { type: 'mark-healthy', module: m.name, patch: patch({ annotations: { [FENCE_ANNOTATIONS.healthySince]: new Date(o.now).toISOString() } }) };
  }
  const count = Number.parseInt(n.annotations[FENCE_ANNOTATIONS.fenceCount] ?? '1', 10) || 1;
  if (o.now - since < settleSeconds(o.box.spec.failover.settleSeconds, count) * 1000) return undefined;
  return {
    type: 'rejoin',
    module: m.name,
    record,
    patch: patch({
      taints: n.taints.filter((t) => !FENCE_TAINTS.some((f) => t.key === f.key && t.effect === f.effect)),
      annotations: { [FENCE_ANNOTATIONS.fenceMethod]: null, [FENCE_ANNOTATIONS.healthySince]: null, [FENCE_ANNOTATIONS.failover]: null },
    }),
  };
}

/**
 * The next step for every module of the box, at most one per module (each is a write to its
 * node with that node's resourceVersion as precondition; the next pass sees its result).
 * A converged box yields no actions.
 */
export function decide(o: Observed): Action[] {
  return o.box.spec.modules.map((m) => decideModule(o, m)).filter((a): a is Action => a !== undefined);
}
