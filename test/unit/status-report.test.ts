import { describe, expect, it } from 'vitest';
import { formatStatus, fromAgents, fromEdgeBoxStatus, type AgentProbe } from '../../src/status/box-status.js';

const members = ['m1', 'm2', 'm3'].map((name) => ({ id: `id-${name}`, name, peerURLs: [], clientURLs: [], learner: false }));

describe('fromEdgeBoxStatus', () => {
  it('copies modules, the control plane and the peripherals (name, owner, token)', () => {
    const r = fromEdgeBoxStatus('cell', {
      modules: [
        { name: 'm1', health: 'Healthy', role: 'server' },
        { name: 'm4', health: 'Fenced', role: 'agent' },
      ],
      controlPlane: {
        voters: [{ module: 'm1', healthy: true, memberId: 'a' }],
        learners: [],
        leader: 'm1',
        quorum: true,
        servers: 1,
        pending: null,
        history: [{ at: '2026-03-01T12:00:00.000Z', type: 'promote', module: 'm1', reason: 'r', durationMs: 4200 }],
      },
      peripherals: [{ name: 'can0', owner: 'm4', token: 7 }, { name: 'cam' }],
    });
    expect(r).toMatchObject({
      box: 'cell',
      source: 'api',
      apiAvailable: true,
      modules: [
        { name: 'm1', health: 'Healthy', role: 'server' },
        { name: 'm4', health: 'Fenced', role: 'agent' },
      ],
      controlPlane: { voters: [{ module: 'm1', healthy: true }], leader: 'm1', history: [{ type: 'promote', module: 'm1' }] },
      peripherals: [
        { name: 'can0', owner: 'm4', token: 7 },
        { name: 'cam', owner: null, token: 0 },
      ],
    });
    const text = formatStatus(r);
    expect(text).toMatch(/CONTROL PLANE: 1\/1 voters healthy \(1 wanted\), quorum yes, leader m1/);
    expect(text).toMatch(/promote\s+m1\s+4\.2 s/);
    expect(text).toMatch(/can0\s+m4\s+7/);
  });

  it('no control-plane status yet: says so, with empty voters', () => {
    const r = fromEdgeBoxStatus('cell', {});
    expect(r.controlPlane).toEqual({ voters: [], leader: null, quorum: false, pending: null, history: [] });
    expect(r.message).toMatch(/controller/);
  });
});

describe('fromAgents (the API is unavailable)', () => {
  it("voters from the highest raft index, health from each voter's own report, the recovery state", () => {
    const probes: AgentProbe[] = [
      {
        module: 'm1',
        reachable: true,
        controlPlane: { role: 'server', running: true, healthy: false, raftIndex: 90, members, message: 'no leader' },
        quorum: { state: 'fencing', survivor: 'm1', message: 'powering off m2, m3' },
      },
      { module: 'm2', reachable: false, error: 'ECONNREFUSED' },
      { module: 'm3', reachable: false, error: 'ECONNREFUSED' },
      { module: 'm4', reachable: true, controlPlane: { role: 'agent', running: false, healthy: false }, quorum: { state: 'witness' } },
    ];
    const r = fromAgents('cell', ['m1', 'm2', 'm3', 'm4'], probes, 'the API is unavailable');
    expect(r).toMatchObject({ source: 'agents', apiAvailable: false, controlPlane: { quorum: false, leader: null } });
    expect(r.controlPlane.voters.map((v) => [v.module, v.healthy])).toEqual([
      ['m1', false],
      ['m2', false],
      ['m3', false],
    ]);
    expect(r.modules.map((m) => [m.name, m.health, m.role])).toEqual([
      ['m1', 'Reachable', 'server'],
      ['m2', 'Unreachable', 'unknown'],
      ['m3', 'Unreachable', 'unknown'],
      ['m4', 'Reachable', 'agent'],
    ]);
    expect(r.message).toMatch(/recovery: fencing \(survivor m1\): powering off m2, m3/);
    expect(formatStatus(r)).toMatch(/read from the agents: the API is unavailable/);
  });
});
