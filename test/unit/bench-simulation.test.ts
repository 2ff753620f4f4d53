import { describe, expect, it } from 'vitest';
import { describeSimulation, FAULTS } from '../../src/bench/simulation.js';
import type { BoxState } from '../../src/local/box-state.js';
import { DEFAULT_POD_START } from '../../src/local/kwok-stages.js';

const state = (over: Partial<BoxState>): BoxState =>
  ({
    version: 2,
    box: 'b',
    spec: 'b.yaml',
    dir: '/tmp/b',
    timings: 'tuned',
    startedAt: '2026-01-01T00:00:00Z',
    binDir: '/bin',
    addresses: { m1: '127.0.1.1', m2: '127.0.1.2', m3: '127.0.1.3' },
    controlPlane: { mode: 'spec', initialServers: ['m1', 'm2', 'm3'] },
    components: [],
    killed: [],
    ...over,
  }) as BoxState;

describe('what a bench says it simulates', () => {
  it('the default box: pods Ready 1-3 s after scheduling, fsync on, the faults named', () => {
    expect(describeSimulation(state({ podStart: DEFAULT_POD_START }), [FAULTS.kill])).toEqual([
      "simulated: 3 modules as KWOK nodes (no kubelet, no containers); a pod is Ready 1-3 s after it is scheduled (KWOK's pod-ready delay: a container start on an SoC module)",
      'real: 3 server modules, each with its own etcd member and API server, etcd with fsync on, scheduler and controller-manager; tuned failover timings; 0 agents, 0 controllers',
      `faults: ${FAULTS.kill}`,
    ]);
  });

  it.each<[string, Partial<BoxState>, RegExp]>([
    ['--pod-start 0', { podStart: { minMs: 0, maxMs: 0 } }, /pods Ready as soon as they are scheduled \(--pod-start 0\)/],
    ['a box from before the delay', {}, /a box from before the pod start delay/],
    ['one control plane for the box', { controlPlane: { mode: 'single', initialServers: ['control-plane'] } }, /one etcd member and API server for the box/],
    ['clock faults', { clockFaults: true }, /each agent on a wall clock of its own/],
  ])('says so for %s', (_what, over, said) => {
    expect(describeSimulation(state(over), [FAULTS.none]).join('\n')).toMatch(said);
  });
});
