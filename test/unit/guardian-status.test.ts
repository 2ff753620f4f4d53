import { describe, expect, it } from 'vitest';
import { CONTROL_PLANE_ANNOTATIONS as A } from '../../src/contract/control-plane.js';
import { planControlPlane } from '../../src/controller/guardian/plan.js';
import { controlPlaneStatus, mergeHistory } from '../../src/controller/guardian/status.js';
import { NOW } from './controller-fixtures.js';
import { observe, threeServers, type World } from './guardian-fixtures.js';
import type { ControlPlaneHistoryEntry } from '../../src/contract/edgebox-status.js';

const statusOf = (w: World, previous?: Parameters<typeof controlPlaneStatus>[0]['previous'], now = NOW) =>
  controlPlaneStatus({ now, servers: w.servers, plan: planControlPlane(observe({ ...w, now })), previous, added: [] });

describe('controlPlaneStatus', () => {
  it('a full, healthy control plane: voters, leader, quorum, no degradation', () => {
    const { status, restored } = statusOf(threeServers());
    expect(status).toMatchObject({
      voters: [
        { module: 'm1', healthy: true, memberId: 'id-m1' },
        { module: 'm2', healthy: true },
        { module: 'm3', healthy: true },
      ],
      leader: 'm1',
      quorum: true,
      servers: 3,
      pending: null,
      history: [],
    });
    expect(status.degradedSince).toBeUndefined();
    expect(restored).toBeUndefined();
  });

  it('short of healthy voters: degraded since the first time it was seen, kept across passes', () => {
    const w = threeServers((m) => (m.name === 'm2' ? { alive: false } : {}));
    const first = statusOf(w).status;
    expect(first.degradedSince).toBe(new Date(NOW).toISOString());
    expect(first.pending).toMatchObject({ type: 'remove', module: 'm2' });
    const later = statusOf(w, first, NOW + 5000).status;
    expect(later.degradedSince).toBe(first.degradedSince);
  });

  it('back to N healthy voters: one restored entry with the time since the degradation', () => {
    const degraded = statusOf(threeServers((m) => (m.name === 'm2' ? { alive: false } : {}))).status;
    const back = threeServers((m) =>
      m.name === 'm2' ? { alive: false, member: undefined, annotations: { [A.desiredRole]: 'agent' } } : m.name === 'm4' ? { member: 'voter' } : {},
    );
    const { status, restored } = statusOf(back, degraded, NOW + 12_000);
    expect(restored).toMatchObject({ type: 'restored', durationMs: 12_000 });
    expect(status.degradedSince).toBeUndefined();
    expect(status.history.at(-1)).toMatchObject({ type: 'restored', durationMs: 12_000 });
    // The next pass reads that status: nothing new to report.
    expect(statusOf(back, status, NOW + 13_000).restored).toBeUndefined();
  });

  it('no member list known (the agents do not report yet): no degradation measured', () => {
    const { status } = statusOf(threeServers((m) => (m.member ? { etcdHealthy: false } : {})));
    expect(status.degradedSince).toBeUndefined();
    expect(status.message).toMatch(/member list/);
  });
});

describe('mergeHistory', () => {
  const e = (at: string, module: string): ControlPlaneHistoryEntry => ({ at, type: 'promote', module, reason: 'r' });
  it('keeps order, drops duplicates of a retried write, keeps the last ones', () => {
    expect(mergeHistory([e('2026-01-01T00:00:02Z', 'b')], [e('2026-01-01T00:00:01Z', 'a'), e('2026-01-01T00:00:02Z', 'b')]).map((x) => x.module)).toEqual([
      'a',
      'b',
    ]);
    const many = Array.from({ length: 30 }, (_, i) => e(`2026-01-01T00:00:${String(i).padStart(2, '0')}Z`, `m${i}`));
    expect(mergeHistory([], many, 20).map((x) => x.module)[0]).toBe('m10');
  });
});
