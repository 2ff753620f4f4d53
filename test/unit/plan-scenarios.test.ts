import { describe, expect, it } from 'vitest';
import type { Plan, Scenario } from '../../src/plan/model.js';
import { planBox } from '../../src/plan/plan-box.js';
import { boxOf, mod } from './plan-helpers.js';

const scenario = (plan: Plan, ...failed: string[]): Scenario => {
  const s = plan.scenarios.find((x) => x.failed.join('+') === failed.join('+'));
  if (!s) throw new Error(`no scenario ${failed.join('+')}`);
  return s;
};
const codes = (plan: Plan) => plan.findings.map((f) => `${f.severity} ${f.code} ${f.subjects[0]}`);

// Three 4 GB CM4s that may serve and one agent-only CM4: servers a, b, c (spec order on a tie).
const threeServers = boxOf({
  servers: 3,
  modules: [mod('a'), mod('b'), mod('c'), mod('d', 'rpi-cm4-4gb', { roles: ['agent'] })],
});

describe('control plane', () => {
  const plan = planBox(threeServers);

  it('picks servers by the ranking rule and derives quorum', () => {
    expect(plan.controlPlane).toMatchObject({ servers: ['a', 'b', 'c'], quorum: 2, failuresTolerated: 1, promotable: [] });
  });

  it.each([
    // failed      quorumKept restorable voters
    [['a'], true, true, 1],
    [['d'], true, true, 3],
    [['a', 'b'], false, true, 1],
    [['a', 'd'], true, true, 1],
    [['c', 'd'], true, true, 1],
  ] as const)('losing %j: quorumKept %s, restorable %s, %i voter(s) after restore', (failed, quorumKept, restorable, voters) => {
    const s = scenario(plan, ...failed);
    expect({ quorumKept: s.quorumKept, restorable: s.restorable, votersAfterRestore: s.votersAfterRestore }).toEqual({
      quorumKept,
      restorable,
      votersAfterRestore: voters,
    });
  });

  it('has every single and every pair failure, in spec order', () => {
    expect(plan.scenarios.map((s) => s.failed.join('+'))).toEqual(['a', 'b', 'c', 'd', 'a+b', 'a+c', 'a+d', 'b+c', 'b+d', 'c+d']);
  });

  it('warns that no module can be promoted and names the agent that could', () => {
    const f = plan.findings.find((x) => x.code === 'plan.no-promotable-module');
    expect(f?.severity).toBe('warning');
    expect(f?.hint).toContain("add 'server' to the roles of d");
  });

  it('promotes the best surviving eligible module to get back to 3 voters', () => {
    const p = planBox(boxOf({ servers: 3, modules: [mod('a'), mod('b'), mod('c'), mod('d', 'rpi-cm4-2gb'), mod('e', 'rpi-cm4-8gb')] }));
    expect(p.controlPlane.servers).toEqual(['e', 'a', 'b']);
    expect(p.controlPlane.promotable).toEqual(['c', 'd']);
    expect(scenario(p, 'e')).toMatchObject({ quorumKept: true, votersAfterRestore: 3, promoted: ['c'] });
    expect(scenario(p, 'c', 'e')).toMatchObject({ quorumKept: true, votersAfterRestore: 3, promoted: ['d'] });
    expect(scenario(p, 'a', 'e')).toMatchObject({ quorumKept: false, restorable: true, votersAfterRestore: 3, promoted: ['c', 'd'] });
  });

  it('a single server: losing it loses quorum and the etcd data', () => {
    const p = planBox(boxOf({ servers: 1, modules: [mod('a'), mod('b', 'rpi-cm4-2gb')] }));
    expect(p.controlPlane).toMatchObject({ servers: ['a'], quorum: 1, failuresTolerated: 0, promotable: ['b'] });
    expect(scenario(p, 'a')).toMatchObject({ quorumKept: false, restorable: false, votersAfterRestore: 0, promoted: [] });
    expect(scenario(p, 'b')).toMatchObject({ quorumKept: true, restorable: true, votersAfterRestore: 1 });
    const f = p.findings.find((x) => x.code === 'plan.quorum-single-failure');
    expect(f?.severity).toBe('warning');
    expect(f?.message).toContain('loses the etcd data');
  });
});

describe('placement', () => {
  it('spreads replicas, most free memory first, and keeps general workloads off accelerator modules', () => {
    const p = planBox(
      boxOf({
        servers: 1,
        modules: [
          mod('small', 'rpi-cm4-2gb', { roles: ['agent'] }),
          mod('big', 'rpi-cm4-8gb'),
          mod('mid', 'rpi-cm4-4gb', { roles: ['agent'] }),
          mod('gpu', 'jetson-orin-nx-16gb', { roles: ['agent'] }),
        ],
        workloads: [
          { name: 'web', replicas: 4, requires: { cpu: '100m', memory: '128Mi' } },
          { name: 'ai', requires: { capabilities: ['gpu.cuda'] } },
        ],
      }),
    );
    // big serves (server reserve 6.25 GiB free); mid 3.5 GiB; small 1.5 GiB. The fourth replica
    // goes back to the module with the most memory left.
    expect(p.capable.web).toEqual(['small', 'big', 'mid']);
    expect(p.placements.web).toEqual(['big', 'mid', 'small', 'big']);
    expect(p.placements.ai).toEqual(['gpu']);
  });

  it('runs a daemonset on every capable module, accelerator modules included', () => {
    const p = planBox(
      boxOf({
        servers: 1,
        modules: [mod('a'), mod('j', 'jetson-nano-4gb'), mod('b', 'rpi-cm4-4gb', { capabilities: ['can'] })],
        workloads: [
          { name: 'logs', kind: 'daemonset', requires: { memory: '64Mi' } },
          { name: 'can-agent', kind: 'daemonset', requires: { capabilities: ['can'] } },
        ],
      }),
    );
    expect(p.placements.logs).toEqual(['a', 'j', 'b']);
    expect(p.placements['can-agent']).toEqual(['b']);
  });

  it('puts every replica of a workload on an exclusive peripheral on its owner, the first capable module in attachedTo', () => {
    const p = planBox(
      boxOf({
        servers: 1,
        modules: [mod('a'), mod('b'), mod('c')],
        peripherals: [{ name: 'bus', kind: 'can', attachedTo: ['c', 'b'], exclusive: true }],
        workloads: [
          { name: 'driver', replicas: 2, peripherals: ['bus'] },
          { name: 'logger', peripherals: ['bus'] },
        ],
      }),
    );
    expect(p.placements).toEqual({ driver: ['c', 'c'], logger: ['c'] });
    expect(scenario(p, 'c').unplaced).toEqual([]);
    expect(scenario(p, 'b', 'c')).toMatchObject({ orphanedPeripherals: ['bus'], unplacedWorkloads: ['driver', 'logger'] });
    expect(scenario(p, 'a', 'c').orphanedPeripherals).toEqual([]);
  });
});

describe('failure scenarios and findings', () => {
  it.each([
    ['critical', 'error'],
    ['standard', 'warning'],
    ['best-effort', 'info'],
  ] as const)('a %s workload with one capable host is a single-host %s with a hint naming what it needs', (criticality, severity) => {
    const p = planBox(
      boxOf({
        servers: 1,
        modules: [mod('master'), mod('jetson-1', 'jetson-xavier-nx-8gb', { roles: ['agent'] })],
        workloads: [{ name: 'detector-a', criticality, requires: { capabilities: ['gpu.cuda'] } }],
      }),
    );
    expect(scenario(p, 'jetson-1').unplaced).toEqual([{ workload: 'detector-a', reason: 'no-capable-module', wantedReplicas: 1, missingReplicas: 1 }]);
    const f = p.findings.find((x) => x.code === 'plan.single-host');
    expect(f).toMatchObject({ severity, subjects: ['detector-a', 'jetson-1'] });
    expect(f?.hint).toBe('detector-a can only run on jetson-1: a second module with gpu.cuda would let detector-a fail over');
  });

  it('an exclusive peripheral on one module: orphaned with it, and both the peripheral and the workload are reported', () => {
    const p = planBox(
      boxOf({
        servers: 1,
        modules: [mod('a', 'rpi-cm4-4gb', { capabilities: ['can'] }), mod('b')],
        peripherals: [{ name: 'arm-bus', kind: 'can', attachedTo: ['a'], exclusive: true }],
        workloads: [{ name: 'arm', criticality: 'critical', requires: { capabilities: ['can'] }, peripherals: ['arm-bus'] }],
      }),
    );
    expect(scenario(p, 'a').orphanedPeripherals).toEqual(['arm-bus']);
    expect(scenario(p, 'b').orphanedPeripherals).toEqual([]);
    expect(codes(p)).toEqual(expect.arrayContaining(['error plan.single-host arm', 'warning plan.peripheral-single-module arm-bus']));
    expect(p.findings.find((f) => f.code === 'plan.single-host')?.hint).toBe(
      'arm-bus is wired only to a: attach it to a second module with can so arm can fail over',
    );
  });

  it('a request that fits no module fails the initial placement', () => {
    const p = planBox(boxOf({ servers: 1, modules: [mod('a'), mod('b')], workloads: [{ name: 'huge', requires: { memory: '40Gi' } }] }));
    expect(p.unplaced).toEqual([{ workload: 'huge', reason: 'no-capable-module', wantedReplicas: 1, missingReplicas: 1 }]);
    expect(p.placements.huge).toEqual([]);
    expect(codes(p)).toContain('error plan.initial-placement-failed huge');
  });

  it('capacity exhaustion: replicas that fit with every module up but not after a loss', () => {
    // Each 4 GB agent offers 3.5 GiB, the 8 GB server 6.25 GiB: three 3.5 GiB replicas fit one
    // per module; after any loss the third finds no room.
    const p = planBox(
      boxOf({
        servers: 1,
        modules: [mod('s', 'rpi-cm4-8gb'), mod('a', 'rpi-cm4-4gb', { roles: ['agent'] }), mod('b', 'rpi-cm4-4gb', { roles: ['agent'] })],
        workloads: [{ name: 'cache', replicas: 3, criticality: 'critical', requires: { memory: '3.5Gi' } }],
      }),
    );
    expect(p.placements.cache).toEqual(['s', 'a', 'b']);
    const short = (missingReplicas: number) => [{ workload: 'cache', reason: 'insufficient-capacity', wantedReplicas: 3, missingReplicas }];
    expect(scenario(p, 'a').unplaced).toEqual(short(1));
    expect(scenario(p, 'b').unplaced).toEqual(short(1));
    // Losing s stops the API, but the capacity question is answered as if it came back.
    expect(scenario(p, 's').unplaced).toEqual(short(1));
    expect(scenario(p, 'a', 'b').unplaced).toEqual(short(2));
    // A critical workload that keeps some replicas is a warning, not an error.
    expect(p.findings.find((f) => f.code === 'plan.n1-unplaced')).toMatchObject({ severity: 'warning', subjects: ['cache', 's', 'a', 'b'] });
  });

  it('a promoted module takes the server reserve and may no longer fit what it ran', () => {
    // b runs 1 GiB as an agent (1.5 GiB free); promoted, a 2 GB module keeps only 256 MiB.
    const p = planBox(
      boxOf({
        servers: 3,
        modules: [mod('s1', 'rpi-cm4-8gb'), mod('s2', 'rpi-cm4-8gb'), mod('s3', 'rpi-cm4-8gb'), mod('b', 'rpi-cm4-2gb', { capabilities: ['can'] })],
        workloads: [{ name: 'bus', criticality: 'critical', requires: { capabilities: ['can'], memory: '1Gi' } }],
      }),
    );
    expect(p.placements.bus).toEqual(['b']);
    expect(scenario(p, 's1')).toMatchObject({
      promoted: ['b'],
      unplaced: [{ workload: 'bus', reason: 'no-capable-module', wantedReplicas: 1, missingReplicas: 1 }],
    });
    expect(p.findings.filter((f) => f.subjects[0] === 'bus').map((f) => `${f.severity} ${f.code}`)).toEqual([
      'error plan.n1-unplaced',
      'error plan.single-host',
    ]);
  });

  it('higher criticality wins scarce capacity, as priority preemption would', () => {
    const p = planBox(
      boxOf({
        servers: 1,
        modules: [mod('a', 'rpi-cm4-8gb'), mod('b', 'rpi-cm4-4gb', { roles: ['agent'] })],
        workloads: [
          { name: 'batch', criticality: 'best-effort', requires: { memory: '3Gi' } },
          { name: 'control', criticality: 'critical', requires: { memory: '3Gi' } },
        ],
      }),
    );
    expect(p.placements).toEqual({ batch: ['b'], control: ['a'] });
    expect(scenario(p, 'b').unplaced).toEqual([]);
    expect(scenario(p, 'a').unplaced).toEqual([{ workload: 'batch', reason: 'insufficient-capacity', wantedReplicas: 1, missingReplicas: 1 }]);
  });

  it('findings are aggregated: one per code and workload, not one per scenario', () => {
    const p = planBox(
      boxOf({
        servers: 1,
        modules: [mod('a'), mod('b'), mod('c'), mod('d')],
        workloads: [{ name: 'pair', replicas: 2, requires: { memory: '3Gi' } }],
      }),
    );
    const keys = p.findings.map((f) => `${f.code} ${f.subjects[0]}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('server-only modules', () => {
  it('take no workloads, in the plan as in the rendered taints', async () => {
    const { parseSpec } = await import('../../src/spec/load.js');
    const { planBox } = await import('../../src/plan/plan-box.js');
    const { nodeTaints } = await import('../../src/render/node-metadata.js');
    const { box } = parseSpec(
      `apiVersion: edgebox.dev/v1alpha1
kind: EdgeBox
metadata: { name: t }
spec:
  controlPlane: { servers: 1 }
  modules:
    - { name: srv, hardware: rpi-cm4-8gb, address: 10.0.0.1, roles: [server] }
    - { name: wrk, hardware: rpi-cm4-2gb, address: 10.0.0.2, roles: [agent] }
  workloads:
    - { name: w, image: x }
`,
      't.yaml',
    );
    expect(nodeTaints(box, box.spec.modules[0]!)).toEqual([{ key: 'CriticalAddonsOnly', value: 'true', effect: 'NoExecute' }]);
    expect(planBox(box).placements.w).toEqual(['wrk']);
  });
});
