import { describe, expect, it } from 'vitest';
import { ACCELERATOR_TAINT } from '../../src/contract/labels.js';
import { planBox } from '../../src/plan/plan-box.js';
import { nodeTaints } from '../../src/render/node-metadata.js';
import { renderManifests } from '../../src/render/manifests.js';
import { boxOf, mod } from './plan-helpers.js';

/** A Raspberry Pi and a Jetson (CAN, GPU): the Jetson is the box's one accelerator module. */
const modules = [mod('pi'), mod('jetson', 'jetson-xavier-nx-8gb', { roles: ['agent'] })];
const cameraOn = (attachedTo: string[]) => [{ name: 'cam', kind: 'camera', attachedTo }];

describe('placement policy: spec.placement.acceleratorTaint', () => {
  it.each([
    {
      name: 'the issue case: a workload bound to a camera only the GPU module has is placed there',
      policy: undefined,
      peripherals: cameraOn(['jetson']),
      workload: { name: 'recorder', peripherals: ['cam'] },
      placed: ['jetson'],
      unplaced: [],
    },
    {
      name: 'a camera on both modules: the workload stays off the GPU module',
      policy: undefined,
      peripherals: cameraOn(['pi', 'jetson']),
      workload: { name: 'recorder', peripherals: ['cam'] },
      placed: ['pi'],
      unplaced: [],
    },
    {
      name: 'a non-GPU capability only the GPU module has: kept out by the taint, and the plan says so',
      policy: undefined,
      peripherals: [],
      workload: { name: 'bus', requires: { capabilities: ['can'] } },
      placed: [],
      unplaced: [{ workload: 'bus', reason: 'taint-blocked', wantedReplicas: 1, missingReplicas: 1 }],
    },
    {
      name: 'the same with the taint turned off: placed on the GPU module',
      policy: { acceleratorTaint: false },
      peripherals: [],
      workload: { name: 'bus', requires: { capabilities: ['can'] } },
      placed: ['jetson'],
      unplaced: [],
    },
    {
      name: 'a request no module fits is no-capable-module, not taint-blocked',
      policy: undefined,
      peripherals: [],
      workload: { name: 'huge', requires: { capabilities: ['can'], memory: '40Gi' } },
      placed: [],
      unplaced: [{ workload: 'huge', reason: 'no-capable-module', wantedReplicas: 1, missingReplicas: 1 }],
    },
    {
      name: 'the same without the taint',
      policy: { acceleratorTaint: false },
      peripherals: [],
      workload: { name: 'huge', requires: { memory: '40Gi' } },
      placed: [],
      unplaced: [{ workload: 'huge', reason: 'no-capable-module', wantedReplicas: 1, missingReplicas: 1 }],
    },
  ])('$name', ({ policy, peripherals, workload, placed, unplaced }) => {
    const p = planBox(boxOf({ servers: 1, modules, peripherals, workloads: [workload], ...(policy ? { placement: policy } : {}) }));
    expect(p.placements[workload.name]).toEqual(placed);
    expect(p.unplaced).toEqual(unplaced);
  });

  it('a taint-blocked workload gets a finding whose hint names the policy', () => {
    const p = planBox(boxOf({ servers: 1, modules, workloads: [{ name: 'bus', criticality: 'critical', requires: { capabilities: ['can'] } }] }));
    const f = p.findings.find((x) => x.code === 'plan.initial-placement-failed');
    expect(f?.hint).toContain('spec.placement.acceleratorTaint: false');
  });

  it('a scenario where only the taint keeps a workload out says taint-blocked, not no-capable-module', () => {
    // The camera is on both; losing the Pi leaves only the tainted Jetson.
    const p = planBox(boxOf({ servers: 1, modules, peripherals: cameraOn(['pi', 'jetson']), workloads: [{ name: 'recorder', peripherals: ['cam'] }] }));
    const s = p.scenarios.find((x) => x.failed.join() === 'pi');
    expect(s?.unplaced).toEqual([{ workload: 'recorder', reason: 'taint-blocked', wantedReplicas: 1, missingReplicas: 1 }]);
  });

  it.each([
    [undefined, true],
    [{ acceleratorTaint: true }, true],
    [{ acceleratorTaint: false }, false],
  ])('placement %o: the GPU module tainted = %s, the Pi never', (policy, tainted) => {
    const box = boxOf({ servers: 1, modules, ...(policy ? { placement: policy } : {}) });
    expect(nodeTaints(box, box.spec.modules[1]!).some((t) => t.key === ACCELERATOR_TAINT)).toBe(tainted);
    expect(nodeTaints(box, box.spec.modules[0]!)).toEqual([]);
  });

  it('render gives the issue case its toleration, so the scheduler agrees with the plan', () => {
    const box = boxOf({ servers: 1, modules, peripherals: cameraOn(['jetson']), workloads: [{ name: 'recorder', peripherals: ['cam'] }] });
    const deployment = renderManifests(box).find((o) => o.kind === 'Deployment');
    const tolerations = (deployment?.spec as { template: { spec: { tolerations?: { key?: string }[] } } }).template.spec.tolerations ?? [];
    expect(tolerations.map((t) => t.key)).toContain(ACCELERATOR_TAINT);
  });
});
