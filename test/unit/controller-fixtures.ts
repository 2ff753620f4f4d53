import type { Observed } from '../../src/controller/decide.js';
import { type AgentView, type ObservedNode, type ObservedPod, type PeerEntry } from '../../src/controller/model.js';
import { parseSpec } from '../../src/spec/load.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { FENCE_TAINTS } from '../../src/contract/taints.js';
import { FENCE_ANNOTATIONS, type FailoverRecord, formatFailover } from '../../src/contract/fencing.js';

/** A box of `n` CM4 modules m1..mn; `power` gives each a driver. Heartbeat 200 ms, settle 30 s, self-fence 3 s. */
export function testBox(n: number, opts: { power?: 'local' | 'turingpi-bmc'; settleSeconds?: number; selfFenceSeconds?: number } = {}): BoxSpec {
  const modules = Array.from(
    { length: n },
    (_, i) =>
      `    - { name: m${i + 1}, hardware: rpi-cm4-4gb, address: 10.0.0.${i + 1}${opts.power ? `, power: { driver: ${opts.power}, slot: ${i + 1} }` : ''} }`,
  );
  return parseSpec(
    `
apiVersion: edgebox.dev/v1alpha1
kind: EdgeBox
metadata: { name: t }
spec:
  controlPlane: { servers: 1 }
  modules:
${modules.join('\n')}
  failover: { heartbeatIntervalMs: 200, missedHeartbeats: 5, settleSeconds: ${opts.settleSeconds ?? 30}, selfFenceSeconds: ${opts.selfFenceSeconds ?? 3} }
`,
    'test.yaml',
  ).box;
}

export const NOW = Date.parse('2026-03-01T12:00:00.000Z');
export const T = (offsetMs: number) => NOW + offsetMs;
/**
 * A Lease renewed at `t` and seen renewed then: the writer's clock and the controller's agree,
 * and the controller's monotonic clock reads the same as the wall clock (NOW). Tests of a clock
 * that disagrees set `renewTime` and `observedAt` apart.
 */
export const renewedAt = (t: number | null) => ({ renewTime: t, observedAt: t });
/** The node Lease's duration in the fixtures: 2 s, renewed every 500 ms (render's tuned kubelet). */
export const NODE_LEASE_SECONDS = 2;

export function node(name: string, o: Partial<ObservedNode> = {}): ObservedNode {
  return { name, resourceVersion: `rv-${name}`, labels: {}, annotations: {}, taints: [], ready: 'True', ...o };
}

/** A view from `module`, renewed `ageMs` ago, with the given peers. */
export function view(module: string, peers: Record<string, Partial<PeerEntry>>, ageMs = 200): AgentView {
  const full: Record<string, PeerEntry> = {};
  for (const [p, e] of Object.entries(peers)) full[p] = { reachable: true, lastSeen: T(-100), suspicion: 0.5, ...e };
  return { module, ...renewedAt(T(-ageMs)), durationSeconds: 3, peers: full };
}

/** Peer entry of a module that went silent at `lastSeen`. */
export const down = (lastSeen = T(-1500)): PeerEntry => ({ reachable: false, lastSeen, suspicion: 7.5 });
export const up: PeerEntry = { reachable: true, lastSeen: T(-100), suspicion: 0.5 };

export function pod(name: string, nodeName: string | undefined, o: Partial<ObservedPod> = {}): ObservedPod {
  return {
    namespace: 't',
    name,
    uid: `uid-${name}`,
    node: nodeName,
    workload: name.replace(/-\w+$/, ''),
    singleton: false,
    ownerKind: 'ReplicaSet',
    deleting: false,
    ready: true,
    createdAt: T(-3_600_000),
    ...o,
  };
}

/** A healthy n-module box: every node Ready, node Leases renewed 200 ms ago, every agent hears every peer; the controller has observed for an hour. */
export function healthy(n: number, boxOpts: Parameters<typeof testBox>[1] = {}): Observed {
  const box = testBox(n, boxOpts);
  const names = box.spec.modules.map((m) => m.name);
  return {
    now: NOW,
    mono: NOW,
    since: T(-3_600_000),
    box,
    nodes: names.map((m) => node(m)),
    nodeLeases: names.map((m) => ({ node: m, ...renewedAt(T(-200)), durationSeconds: NODE_LEASE_SECONDS })),
    views: names.map((m) => view(m, Object.fromEntries(names.filter((p) => p !== m).map((p) => [p, up])))),
    pods: [],
  };
}

/** `victim` dead: every other agent reports it unreachable since `lastSeen`, its node Lease last renewed before that. */
export function dead(o: Observed, victim: string, lastSeen = T(-1500)): Observed {
  return {
    ...o,
    views: o.views.filter((v) => v.module !== victim).map((v) => ({ ...v, peers: { ...v.peers, [victim]: { reachable: false, lastSeen, suspicion: 7.5 } } })),
    nodeLeases: o.nodeLeases.map((l) => (l.node === victim ? { ...l, ...renewedAt(lastSeen - 3000) } : l)),
  };
}

export function withNode(o: Observed, name: string, change: Partial<ObservedNode>): Observed {
  return { ...o, nodes: o.nodes.map((n) => (n.name === name ? { ...n, ...change } : n)) };
}

export function record(r: Partial<FailoverRecord> = {}): FailoverRecord {
  return { detectedAt: T(-1000), lastSeenAt: T(-1500), witnesses: ['m2', 'm3'], ...r };
}

/** Annotations of a module fenced at `fencedAt` by `method`, with its failover record. */
export function fenced(method: 'power' | 'taint', r: Partial<FailoverRecord> = {}, fencedAt = T(-900), count = 1): Partial<ObservedNode> {
  return {
    annotations: {
      [FENCE_ANNOTATIONS.fenceMethod]: method,
      [FENCE_ANNOTATIONS.fencedAt]: new Date(fencedAt).toISOString(),
      [FENCE_ANNOTATIONS.fenceCount]: String(count),
      [FENCE_ANNOTATIONS.failover]: formatFailover(record(r)),
    },
    taints: [...FENCE_TAINTS],
  };
}
