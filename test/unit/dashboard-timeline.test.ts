import type { CoreV1Event, V1Lease, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../src/dashboard/snapshot.js';
import { kindOf, lastHeartbeats, timeline } from '../../src/dashboard/timeline.js';
import { loadSpec } from '../../src/spec/load.js';

const { box } = await loadSpec('examples/article-box.yaml');
const NOW = Date.parse('2026-01-01T12:00:00Z');
const t = (s: number) => new Date(NOW + s * 1000);

let uid = 0;
const event = (reason: string, s: number, obj: { kind: string; name: string; namespace?: string }, message = '', component = 'test'): CoreV1Event => ({
  metadata: { name: `e${++uid}`, namespace: obj.namespace ?? 'default', uid: `u${uid}` },
  involvedObject: obj,
  reason,
  message,
  lastTimestamp: t(s),
  source: { component },
});
const pod = (name: string, workload: string, node: string, created: number, deleted?: number): V1Pod => ({
  metadata: {
    name,
    namespace: 'vision-cell',
    uid: name,
    labels: { 'edgebox.dev/workload': workload },
    creationTimestamp: t(created),
    ...(deleted !== undefined ? { deletionTimestamp: t(deleted) } : {}),
  },
  spec: { nodeName: node, containers: [] },
});
const nodeLease = (name: string, renewed: number): V1Lease => ({ metadata: { name, namespace: 'kube-node-lease' }, spec: { renewTime: t(renewed) } });
const snapshot = (s: Partial<ClusterSnapshot>): ClusterSnapshot => ({ nodes: [], pods: [], departedPods: [], events: [], leases: [], ...s });

describe('timeline', () => {
  it.each([
    ['NodeNotReady', 'detection'],
    ['ModuleFailed', 'detection'],
    ['ModuleFenced', 'fencing'],
    ['TaintManagerEviction', 'eviction'],
    ['PodsReleased', 'handover'],
    ['Scheduled', 'placement'],
    ['ModuleRejoined', 'rejoin'],
    ['NodeReady', 'rejoin'],
    ['ServerPromoted', 'promotion'],
    ['PeripheralHandover', 'handover'],
  ])('%s is a %s', (reason, kind) => {
    expect(kindOf(reason)).toBe(kind);
  });

  it.each(['Pulled', 'RegisteredNode'])('%s is not on the timeline', (reason) => {
    expect(kindOf(reason)).toBeUndefined();
  });

  it("a failover from Kubernetes' own Events: detection from the last heartbeat, then eviction and replacement from the detection", () => {
    const old = pod('det-1', 'detector-a', 'jetson-2', 0, 25);
    const next = pod('det-2', 'detector-a', 'jetson-1', 25.2);
    const cluster = snapshot({
      pods: [old, next],
      leases: [nodeLease('jetson-2', 0.5)],
      events: [
        // A first start: not part of any failover.
        event(
          'Scheduled',
          0.1,
          { kind: 'Pod', name: 'det-1', namespace: 'vision-cell' },
          'Successfully assigned vision-cell/det-1 to jetson-2',
          'default-scheduler',
        ),
        event('NodeNotReady', 20.5, { kind: 'Node', name: 'jetson-2' }, 'Node jetson-2 status is now: NodeNotReady', 'node-controller'),
        // Repeated on each of its pods: the node's is the one detection.
        event('NodeNotReady', 20.5, { kind: 'Pod', name: 'det-1', namespace: 'vision-cell' }, 'Node is not ready', 'node-controller'),
        event('TaintManagerEviction', 25.5, { kind: 'Pod', name: 'det-1', namespace: 'vision-cell' }, 'Marking for deletion Pod vision-cell/det-1'),
        event(
          'Scheduled',
          25.5,
          { kind: 'Pod', name: 'det-2', namespace: 'vision-cell' },
          'Successfully assigned vision-cell/det-2 to jetson-1',
          'default-scheduler',
        ),
        // Not this box's.
        event('NodeNotReady', 21, { kind: 'Node', name: 'elsewhere' }),
        event('Scheduled', 1, { kind: 'Pod', name: 'other', namespace: 'kube-system' }, 'Successfully assigned kube-system/other to jetson-1'),
      ],
    });
    const entries = timeline(box, cluster);
    expect(entries.map((e) => [e.kind, e.module, e.workload, e.durationMs])).toEqual([
      ['placement', 'jetson-1', 'detector-a', 25_000],
      ['eviction', 'jetson-2', 'detector-a', 5000],
      ['detection', 'jetson-2', undefined, 20_000],
    ]);
    expect(entries[2]).toMatchObject({ reason: 'NodeNotReady', source: 'node-controller', at: t(20.5).toISOString() });
  });

  it("the controller's Events: fencing and rejoin timed from the detection; a first NodeReady is no rejoin; promotions carry no duration", () => {
    const cluster = snapshot({
      events: [
        event('NodeReady', 0, { kind: 'Node', name: 'net-1' }),
        event('ModuleFailed', 10, { kind: 'Node', name: 'net-1' }, 'net-1: 3 of 4 peers cannot reach it', 'edgebox-controller'),
        event('ModuleFenced', 10.4, { kind: 'Node', name: 'net-1' }),
        event('ServerPromoted', 12, { kind: 'EdgeBox', name: 'vision-cell' }, 'jetson-2 promoted to server'),
        event('ModuleRejoined', 70, { kind: 'Node', name: 'net-1' }),
      ],
    });
    expect(timeline(box, cluster).map((e) => [e.kind, e.module, e.durationMs])).toEqual([
      ['rejoin', 'net-1', 60_000],
      ['promotion', 'jetson-2', undefined],
      ['fencing', 'net-1', 400],
      // No heartbeat known: a detection without a duration.
      ['detection', 'net-1', undefined],
    ]);
  });

  it('last heartbeats: the latest of the node Lease and of what the agents last heard', () => {
    const agent: V1Lease = {
      metadata: {
        name: 'agent-net-1',
        namespace: 'edgebox-system',
        annotations: { 'edgebox.dev/peer-view': JSON.stringify({ 'jetson-2': { reachable: false, suspicion: 9, lastSeen: t(3).toISOString() } }) },
      },
      spec: { holderIdentity: 'net-1', renewTime: t(5) },
    };
    expect(lastHeartbeats(snapshot({ leases: [nodeLease('jetson-2', 1), agent, nodeLease('net-1', 4)] }))).toEqual(
      new Map([
        ['jetson-2', NOW + 3000],
        ['net-1', NOW + 4000],
      ]),
    );
  });
});
