import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/base/backoff.js';
import { currentFailovers, mergeFailovers, moduleStatuses } from '../../src/controller/status.js';
import { dead, fenced, healthy, T, withNode } from './controller-fixtures.js';
import { FENCE_ANNOTATIONS } from '../../src/contract/fencing.js';
import type { FailoverStatus } from '../../src/contract/edgebox-status.js';
import { toObservedNode, toNodeLease, toAgentView, toObservedPod } from '../../src/controller/observe.js';

describe('EdgeBox status', () => {
  it.each([
    ['a healthy box', (o: ReturnType<typeof healthy>) => o, ['Healthy', 'Healthy', 'Healthy', 'Healthy']],
    [
      'one agent cannot hear m1',
      (o: ReturnType<typeof healthy>) => ({
        ...o,
        views: o.views.map((v) => (v.module === 'm2' ? { ...v, peers: { ...v.peers, m1: { reachable: false, lastSeen: T(-1500), suspicion: 7.5 } } } : v)),
      }),
      ['Suspected', 'Healthy', 'Healthy', 'Healthy'],
    ],
    ['m1 dead', (o: ReturnType<typeof healthy>) => dead(o, 'm1'), ['Failed', 'Healthy', 'Healthy', 'Healthy']],
    ['m1 fenced', (o: ReturnType<typeof healthy>) => withNode(dead(o, 'm1'), 'm1', fenced('taint')), ['Fenced', 'Healthy', 'Healthy', 'Healthy']],
    [
      'm1 fenced and settling',
      (o: ReturnType<typeof healthy>) =>
        withNode(o, 'm1', {
          ...fenced('taint'),
          annotations: { ...fenced('taint').annotations, [FENCE_ANNOTATIONS.healthySince]: new Date(T(-1000)).toISOString() },
        }),
      ['Settling', 'Healthy', 'Healthy', 'Healthy'],
    ],
    [
      'm1 without a node',
      (o: ReturnType<typeof healthy>) => ({ ...o, nodes: o.nodes.filter((n) => n.name !== 'm1') }),
      ['Unknown', 'Healthy', 'Healthy', 'Healthy'],
    ],
  ])('health: %s', (_what, change, expected) => {
    expect(moduleStatuses(change(healthy(4))).map((m) => m.health)).toEqual(expected);
  });

  it("roles: the control-plane label where K3s set it, else the plan's initial servers", () => {
    const o = healthy(4);
    expect(moduleStatuses(o).map((m) => m.role)).toEqual(['server', 'agent', 'agent', 'agent']);
    const labelled = withNode(withNode(o, 'm3', { labels: { 'node-role.kubernetes.io/control-plane': 'true' } }), 'm4', {
      labels: { 'node-role.kubernetes.io/control-plane': 'true' },
    });
    expect(moduleStatuses(labelled).map((m) => m.role)).toEqual(['agent', 'agent', 'server', 'server']);
  });

  it('suspicion is the highest among the fresh views; who cannot reach it is listed', () => {
    const m1 = moduleStatuses(dead(healthy(4), 'm1'))[0]!;
    expect(m1).toMatchObject({ name: 'm1', node: 'm1', suspicion: 7.5, unreachableBy: ['m2', 'm3', 'm4'] });
  });

  it('a failover in progress, with its durations', () => {
    const o = withNode(
      dead(healthy(3), 'm1'),
      'm1',
      fenced('power', { lastSeenAt: T(-2000), detectedAt: T(-1500), releasedAt: T(-700), readyAt: T(0), workloads: ['detector'] }, T(-1000)),
    );
    expect(currentFailovers(o)).toEqual([
      {
        module: 'm1',
        lastSeenAt: new Date(T(-2000)).toISOString(),
        detectedAt: new Date(T(-1500)).toISOString(),
        witnesses: ['m2', 'm3'],
        workloads: ['detector'],
        method: 'power',
        fencedAt: new Date(T(-1000)).toISOString(),
        releasedAt: new Date(T(-700)).toISOString(),
        readyAt: new Date(T(0)).toISOString(),
        durations: { detection: 0.5, fencing: 0.5, release: 0.3, ready: 0.7, total: 2 },
      },
    ]);
  });

  it('failovers: one in progress is updated in place, ended ones stay, the last 20 are kept', () => {
    const f = (module: string, at: number, extra: Partial<FailoverStatus> = {}): FailoverStatus => ({
      module,
      detectedAt: new Date(T(at)).toISOString(),
      witnesses: [],
      durations: {},
      ...extra,
    });
    const old = Array.from({ length: 20 }, (_, i) => f(`m${i}`, i * 1000));
    const merged = mergeFailovers([...old], [f('m19', 19_000, { method: 'taint' }), f('m1', 50_000)]);
    expect(merged).toHaveLength(20);
    expect(merged[0]!.module).toBe('m1');
    expect(merged.at(-2)).toEqual(f('m19', 19_000, { method: 'taint' }));
    expect(merged.at(-1)).toEqual(f('m1', 50_000));
  });
});

describe('informer conversions', () => {
  it.each([
    [1, 200],
    [2, 400],
    [5, 3200],
    [6, 5000],
    [40, 5000],
  ])('restart %i in a row waits %i ms', (n, ms) => {
    expect(backoffMs(n, { initialMs: 200, maxMs: 5000 })).toBe(ms);
  });

  it('an agent Lease becomes a view (from a watch: strings)', () => {
    const v = toAgentView(
      {
        metadata: {
          name: 'agent-m2',
          annotations: {
            'edgebox.dev/peer-view': JSON.stringify({
              m1: { reachable: false, lastSeen: '2026-03-01T11:59:58.500Z', suspicion: 7.5 },
              m3: { reachable: true, lastSeen: null, suspicion: 0 },
              bad: { reachable: 'yes' },
            }),
          },
        },
        spec: { renewTime: '2026-03-01T11:59:59.800000Z' as unknown as Date, leaseDurationSeconds: 3 },
      },
      42,
    );
    expect(v).toEqual({
      module: 'm2',
      renewTime: T(-200),
      durationSeconds: 3,
      observedAt: 42,
      peers: { m1: { reachable: false, lastSeen: T(-1500), suspicion: 7.5 }, m3: { reachable: true, lastSeen: null, suspicion: 0 } },
    });
  });

  it.each([
    ['not an agent Lease', { metadata: { name: 'edgebox-controller' } }, undefined],
    [
      'a garbled view: no peers',
      { metadata: { name: 'agent-m1', annotations: { 'edgebox.dev/peer-view': '{nope' } } },
      { module: 'm1', renewTime: null, durationSeconds: 3, observedAt: null, peers: {} },
    ],
    [
      'a view claiming to have heard a peer after its own renewal: it witnesses nothing',
      {
        metadata: {
          name: 'agent-m1',
          annotations: { 'edgebox.dev/peer-view': JSON.stringify({ m2: { reachable: false, lastSeen: '2026-03-01T12:00:05.000Z', suspicion: 9 } }) },
        },
        spec: { renewTime: '2026-03-01T11:59:59.800000Z' as unknown as Date, leaseDurationSeconds: 3 },
      },
      { module: 'm1', renewTime: T(-200), durationSeconds: 3, observedAt: 42, peers: {} },
    ],
  ])('%s', (_what, lease, expected) => {
    expect(toAgentView(lease, 42)).toEqual(expected);
  });

  it('nodes, node Leases and pods (from a list: Dates)', () => {
    expect(
      toObservedNode({
        metadata: { name: 'm1', resourceVersion: '9', labels: { a: 'b' } },
        spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] },
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      }),
    ).toEqual({
      name: 'm1',
      resourceVersion: '9',
      labels: { a: 'b' },
      annotations: {},
      taints: [{ key: 'k', value: '', effect: 'NoSchedule' }],
      ready: 'True',
    });
    expect(toNodeLease({ metadata: { name: 'm1' }, spec: { renewTime: new Date(T(-5)), leaseDurationSeconds: 40 } }, 7)).toEqual({
      node: 'm1',
      renewTime: T(-5),
      durationSeconds: 40,
      observedAt: 7,
    });
    expect(
      toObservedPod({
        metadata: {
          name: 'p',
          namespace: 'ns',
          uid: 'u',
          labels: { 'edgebox.dev/workload': 'w' },
          creationTimestamp: new Date(T(-1000)),
          deletionTimestamp: new Date(T(0)),
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'w', uid: 'o', controller: true }],
        },
        spec: { nodeName: 'm1', containers: [] },
        status: { conditions: [{ type: 'Ready', status: 'False' }] },
      }),
    ).toEqual({
      namespace: 'ns',
      name: 'p',
      uid: 'u',
      node: 'm1',
      workload: 'w',
      singleton: false,
      ownerKind: 'StatefulSet',
      deleting: true,
      ready: false,
      createdAt: T(-1000),
    });
  });
});
