import type { V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { statusFailovers, statusLeader, statusModules } from '../../src/dashboard/edgebox-status.js';
import { ownsLabel } from '../../src/contract/peripherals.js';
import { agentViews, healthOf, moduleViews, userLabels, witnessesOf } from '../../src/dashboard/modules-view.js';
import type { ClusterSnapshot } from '../../src/dashboard/snapshot.js';
import { whatIf } from '../../src/dashboard/what-if.js';
import { fromPods, stateOf } from '../../src/dashboard/workloads-view.js';
import { planBox } from '../../src/plan/plan-box.js';
import { loadSpec } from '../../src/spec/load.js';

const { box } = await loadSpec('examples/article-box.yaml');
const plan = planBox(box);
const NOW = Date.parse('2026-01-01T12:00:00Z');
const at = (s: number) => new Date(NOW + s * 1000).toISOString();

const node = (
  name: string,
  o: { ready?: string; taints?: { key: string; effect: string }[]; labels?: Record<string, string>; allocatable?: Record<string, string> } = {},
): V1Node => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
  spec: { taints: o.taints ?? [] },
  status: {
    conditions: [{ type: 'Ready', status: o.ready ?? 'True', reason: o.ready === 'Unknown' ? 'NodeStatusUnknown' : 'KubeletReady' }],
    allocatable: o.allocatable ?? { cpu: '3250m', memory: '2Gi' },
    addresses: [{ type: 'InternalIP', address: '127.0.1.1' }],
  },
});

const pod = (
  name: string,
  o: { workload: string; node?: string; created: number; deleted?: number; readyAt?: number; cpu?: string; memory?: string; uid?: string },
): V1Pod => ({
  metadata: {
    name,
    namespace: 'vision-cell',
    uid: o.uid ?? name,
    labels: { 'edgebox.dev/workload': o.workload },
    creationTimestamp: new Date(NOW + o.created * 1000),
    ...(o.deleted !== undefined ? { deletionTimestamp: new Date(NOW + o.deleted * 1000), deletionGracePeriodSeconds: 0 } : {}),
  },
  spec: {
    ...(o.node ? { nodeName: o.node } : {}),
    containers: [{ name: 'c', image: 'x', resources: { requests: { ...(o.cpu ? { cpu: o.cpu } : {}), ...(o.memory ? { memory: o.memory } : {}) } } }],
  },
  status: {
    phase: 'Running',
    conditions: o.readyAt !== undefined ? [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(NOW + o.readyAt * 1000) }] : [],
  },
});

const agentLease = (
  module: string,
  renewedSecondsAgo: number,
  view: Record<string, { reachable: boolean; suspicion: number; lastSeen: string | null }>,
): V1Lease => ({
  metadata: { name: `agent-${module}`, namespace: 'edgebox-system', annotations: { 'edgebox.dev/peer-view': JSON.stringify(view) } },
  spec: { holderIdentity: module, leaseDurationSeconds: 3, renewTime: new Date(NOW - renewedSecondsAgo * 1000) },
});

const snapshot = (s: Partial<ClusterSnapshot>): ClusterSnapshot => ({ nodes: [], pods: [], departedPods: [], events: [], leases: [], ...s });

const annotated = (n: V1Node, annotations: Record<string, string>): V1Node => ({ ...n, metadata: { ...n.metadata, annotations } });

describe('module health', () => {
  const w = (unreachable: number, views = 4, suspicion = 0) => ({ unreachable, views, quorum: 3, suspicion });
  it.each([
    [
      'the controller says so',
      { node: node('m'), statusEntry: { name: 'm', health: 'fenced' as const }, witnesses: undefined, hasCluster: true },
      'fenced',
      /controller/,
    ],
    ['no cluster', { node: undefined, witnesses: undefined, hasCluster: false }, 'unknown', /no cluster/],
    ['no node yet', { node: undefined, witnesses: undefined, hasCluster: true }, 'unknown', /no node/],
    [
      'out-of-service taint',
      { node: node('m', { taints: [{ key: 'node.kubernetes.io/out-of-service', effect: 'NoExecute' }] }), witnesses: undefined, hasCluster: true },
      'fenced',
      /fenced/,
    ],
    ['node NotReady', { node: node('m', { ready: 'Unknown' }), witnesses: undefined, hasCluster: true }, 'failed', /Ready=Unknown \(NodeStatusUnknown\)/],
    ['a quorum of peers cannot reach it', { node: node('m'), witnesses: w(3), hasCluster: true }, 'failed', /3 of 4 peers/],
    ['one peer cannot reach it', { node: node('m'), witnesses: w(1), hasCluster: true }, 'suspect', /1 of 4 peers/],
    ['missed heartbeats, still reachable', { node: node('m'), witnesses: w(0, 4, 2), hasCluster: true }, 'suspect', /missed 2/],
    ['all well', { node: node('m'), witnesses: w(0), hasCluster: true }, 'healthy', /4 peers hear it/],
    ['all well, no agents', { node: node('m'), witnesses: undefined, hasCluster: true }, 'healthy', /^node Ready$/],
    // The controller keeps fenced-at after a rejoin (for its backoff); only fence-method means "fenced now".
    [
      'fenced by the controller, taint not yet seen',
      { node: annotated(node('m'), { 'edgebox.dev/fence-method': 'power' }), witnesses: undefined, hasCluster: true },
      'fenced',
      /fenced/,
    ],
    [
      'rejoined after an earlier fencing',
      { node: annotated(node('m'), { 'edgebox.dev/fenced-at': at(-60), 'edgebox.dev/fence-count': '1' }), witnesses: w(0), hasCluster: true },
      'healthy',
      /peers hear it/,
    ],
  ])('%s', (_name, input, health, reason) => {
    const h = healthOf(input);
    expect(h.health).toBe(health);
    expect(h.reason).toMatch(reason);
  });
});

describe('agent views', () => {
  it('counts only fresh views from other modules, against a quorum of the others', () => {
    const views = agentViews(
      [
        agentLease('master-1', 1, { 'jetson-2': { reachable: false, suspicion: 7.5, lastSeen: at(-2) } }),
        agentLease('net-1', 0.5, { 'jetson-2': { reachable: false, suspicion: 6, lastSeen: at(-1.5) } }),
        // Stale: renewed 10 s ago with a 3 s lease; not counted.
        agentLease('motor-1', 10, { 'jetson-2': { reachable: false, suspicion: 9, lastSeen: at(-20) } }),
        // Its own view of itself never counts.
        agentLease('jetson-2', 0, { 'jetson-2': { reachable: true, suspicion: 0, lastSeen: at(0) } }),
      ],
      NOW,
    );
    expect([...views.keys()].sort()).toEqual(['jetson-2', 'master-1', 'net-1']);
    expect(witnessesOf('jetson-2', 5, views)).toEqual({ unreachable: 2, views: 2, quorum: 3, suspicion: 7.5, lastSeen: NOW - 1500 });
    expect(witnessesOf('jetson-1', 5, views)).toBeUndefined();
  });
});

describe('moduleViews', () => {
  it('without a cluster: spec, plan roles, planned peripheral owners, spec labels', () => {
    const views = moduleViews({ box, plan, killed: [], now: NOW });
    expect(views.map((m) => [m.name, m.slot, m.role, m.health])).toEqual([
      ['master-1', 1, 'server', 'unknown'],
      ['jetson-1', 2, 'server', 'unknown'],
      ['jetson-2', 3, 'agent', 'unknown'],
      ['motor-1', 4, 'agent', 'unknown'],
      ['net-1', 5, 'server', 'unknown'],
    ]);
    const motor = views.find((m) => m.name === 'motor-1')!;
    expect(motor.peripherals).toEqual([{ name: 'motor-bus', kind: 'can', exclusive: true, owner: true, ownerSource: 'plan' }]);
    expect(views.find((m) => m.name === 'master-1')!.labels).toEqual({ zone: 'core' });
    expect(motor.resources).toBeUndefined();
  });

  it('with a cluster: requests against allocatable, live owner label, node role label, status role and leader, killed', () => {
    const cluster = snapshot({
      nodes: box.spec.modules.map((m) =>
        node(m.name, {
          labels: {
            zone: 'core',
            'edgebox.dev/hardware': m.hardware,
            ...(m.name === 'master-1' ? { [ownsLabel('motor-bus')]: 'true' } : {}),
            ...(m.name === 'jetson-2' ? { 'node-role.kubernetes.io/control-plane': 'true' } : {}),
          },
        }),
      ),
      pods: [
        pod('motor-0', { workload: 'motor-controller', node: 'master-1', created: 0, cpu: '500m', memory: '256Mi' }),
        pod('telemetry-x', { workload: 'telemetry', node: 'master-1', created: 0, cpu: '50m', memory: '64Mi' }),
      ],
      edgeBox: {
        metadata: { name: 'vision-cell' },
        status: { modules: [{ name: 'net-1', role: 'agent', health: 'Healthy' }], controlPlane: { leader: 'jetson-1' } },
      },
    });
    const views = moduleViews({ box, plan, cluster, killed: ['motor-1'], now: NOW });
    const master = views.find((m) => m.name === 'master-1')!;
    expect(master.resources).toEqual({
      cpuRequestedMillis: 550,
      cpuAllocatableMillis: 3250,
      memoryRequestedBytes: 320 * 2 ** 20,
      memoryAllocatableBytes: 2 * 2 ** 30,
    });
    expect(master.pods.map((p) => p.workload)).toEqual(['motor-controller', 'telemetry']);
    expect(master.peripherals[0]).toMatchObject({ name: 'motor-bus', owner: true, ownerSource: 'cluster' });
    expect(views.find((m) => m.name === 'motor-1')!.peripherals[0]!.owner).toBe(false);
    expect(views.find((m) => m.name === 'motor-1')!.poweredOff).toBe(true);
    expect(views.find((m) => m.name === 'jetson-2')).toMatchObject({ role: 'server', roleSource: 'node' });
    expect(views.find((m) => m.name === 'net-1')).toMatchObject({ role: 'agent', roleSource: 'status', health: 'healthy' });
    expect(views.find((m) => m.name === 'jetson-1')!.etcdLeader).toBe(true);
    expect(master.nodeAddress).toBe('127.0.1.1');
    expect(master.labels).toEqual({ zone: 'core' });
  });

  it('userLabels keeps unprefixed labels only, sorted', () => {
    expect(userLabels({ 'kubernetes.io/os': 'linux', zone: 'core', probe: 'x', 'edgebox.dev/box': 'b' })).toEqual({ probe: 'x', zone: 'core' });
  });
});

describe('workloads', () => {
  it('a replacement on another module is paired with the pod it replaced; the failover starts at the detection', () => {
    const old = pod('det-1', { workload: 'detector-a', node: 'jetson-2', created: 0, deleted: 30, readyAt: 1 });
    const next = pod('det-2', { workload: 'detector-a', node: 'jetson-1', created: 30.5, readyAt: 32 });
    const detection = {
      id: 'e',
      at: at(25),
      kind: 'detection' as const,
      reason: 'NodeNotReady',
      module: 'jetson-2',
      message: '',
      durationMs: 21_000,
      source: 'node-controller',
    };
    expect(fromPods([old, next], [], [detection])).toEqual({
      from: 'jetson-2',
      to: 'jetson-1',
      startedAt: at(4),
      endedAt: at(32),
      durationMs: 28_000,
      source: 'pods',
    });
    // Without the detection, from the old pod's deletion.
    expect(fromPods([next], [old], [])).toMatchObject({ startedAt: at(30), durationMs: 2000 });
    // A first start replaces nothing.
    expect(fromPods([next], [], [])).toBeUndefined();
    // Still starting: no end yet.
    expect(fromPods([pod('det-3', { workload: 'detector-a', node: 'jetson-1', created: 31 })], [old], [])).toEqual({
      from: 'jetson-2',
      to: 'jetson-1',
      startedAt: at(30),
      source: 'pods',
    });
  });

  it.each([
    ['no pods', [], 'not-deployed'],
    ['ready', [pod('a', { workload: 'w', node: 'n', created: 0, readyAt: 1 })], 'running'],
    ['not ready yet', [pod('a', { workload: 'w', node: 'n', created: 0 })], 'starting'],
    [
      'a pod terminating',
      [pod('a', { workload: 'w', node: 'n', created: 0, deleted: 5, readyAt: 1 }), pod('b', { workload: 'w', node: 'm', created: 5 })],
      'moving',
    ],
  ] as const)('state: %s', (_n, pods, state) => {
    expect(stateOf(box.spec.workloads[0]!, pods, 1)).toBe(state);
  });
});

describe('what-if', () => {
  it('one server lost: quorum kept, said first', () => {
    const v = whatIf(box, plan, ['master-1']);
    expect(v).toMatchObject({ failed: ['master-1'], quorumKept: true, restorable: true, survivingServers: ['net-1', 'jetson-1'], quorum: 2 });
    expect(v.summary[0]).toMatch(/^Quorum kept: 2 of 3 servers survive/);
  });

  it('two servers lost: quorum lost but restorable; modules in any order; orphaned peripherals named', () => {
    const v = whatIf(box, plan, ['net-1', 'master-1']);
    expect(v).toMatchObject({ failed: ['master-1', 'net-1'], quorumKept: false, restorable: true, survivingServers: ['jetson-1'] });
    expect(v.summary[0]).toMatch(/^Quorum lost: 1 of 3 servers survive \(jetson-1\)/);
    const bus = whatIf(box, plan, ['master-1', 'motor-1']);
    expect(bus.orphanedPeripherals).toEqual(['motor-bus']);
    expect(bus.unplaced.map((u) => u.workload)).toContain('motor-controller');
    expect(bus.summary).toContain('motor-bus is orphaned: every module attached to it is lost.');
  });

  it('refuses unknown modules and more than two', () => {
    expect(() => whatIf(box, plan, ['nope'])).toThrow(/has no module 'nope'/);
    expect(() => whatIf(box, plan, ['master-1', 'net-1', 'motor-1'])).toThrow(/one or two modules, not 3/);
    expect(() => whatIf(box, plan, [])).toThrow(/not 0/);
  });
});

describe('EdgeBox status readers', () => {
  it('read what is there, ignore what is malformed', () => {
    const status = {
      // The shapes src/controller/status.ts writes.
      modules: [
        { name: 'a', health: 'Failed', role: 'server', suspicion: 4 },
        { health: 'Healthy' },
        'junk',
        { module: 'b', health: 'weird' },
        { name: 'c', health: 'Suspected', role: 'agent', suspicion: 3 },
        { name: 'd', health: 'Settling', role: 'agent', suspicion: 0 },
      ],
      failovers: [
        {
          module: 'a',
          detectedAt: at(0),
          witnesses: ['c', 'd'],
          workloads: ['w'],
          method: 'out-of-service-taint',
          durations: { detection: 0.9, fencing: 0.4, release: 0.05, ready: 0.3, total: 2.1 },
        },
        { module: 'x', detectedAt: 'not a date', durations: {} },
      ],
      controlPlane: { leader: { module: 'c' } },
    };
    expect(statusModules(status)).toEqual([
      { name: 'a', health: 'failed', role: 'server', suspicion: 4 },
      { name: 'b' },
      { name: 'c', health: 'suspect', role: 'agent', suspicion: 3 },
      { name: 'd', health: 'fenced', role: 'agent', suspicion: 0 },
    ]);
    expect(statusFailovers(status)).toEqual([
      { module: 'a', workloads: ['w'], at: NOW, detectionMs: 900, fencingMs: 400, readyMs: 2100 },
      { module: 'x', workloads: [] },
    ]);
    expect(statusLeader(status)).toBe('c');
    expect(statusModules(undefined)).toEqual([]);
  });
});
