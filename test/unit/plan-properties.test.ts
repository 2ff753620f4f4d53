import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findHardware, HARDWARE_IDS } from '../../src/catalog/hardware.js';
import { allocatable, MAX_PODS } from '../../src/catalog/reserve.js';
import { planBox } from '../../src/plan/plan-box.js';
import { cpuMillis, memoryBytes } from '../../src/spec/quantity.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { boxOf } from './plan-helpers.js';

const CARRIER_CAPABILITIES = ['can', 'wifi', 'camera.usb'];
const CPUS = [undefined, '100m', '500m', '1', '2', '4'];
const MEMORIES = [undefined, '64Mi', '512Mi', '1Gi', '2Gi', '4Gi', '12Gi', '40Gi'];

/**
 * Random valid boxes: every workload is derived from an anchor module (a subset of its
 * capabilities and of the peripherals it reaches), so the loader accepts it; sizes are random,
 * so some cannot be placed at all. servers is odd and at most the server-eligible modules.
 */
const validBox: fc.Arbitrary<BoxSpec> = fc
  .array(
    fc.record({
      hardware: fc.constantFrom(...HARDWARE_IDS),
      roles: fc.constantFrom<('server' | 'agent')[]>(['server', 'agent'], ['agent'], ['server']),
      capabilities: fc.subarray(CARRIER_CAPABILITIES),
    }),
    { minLength: 1, maxLength: 7 },
  )
  .chain((modules) => {
    if (!modules.some((m) => m.roles.includes('server'))) modules[0]!.roles = ['server', 'agent'];
    const named = modules.map((m, i) => ({ name: `m${i}`, ...m }));
    const eligible = named.filter((m) => m.roles.includes('server')).length;
    const indices = named.map((_, i) => i);
    return fc
      .record({
        servers: fc.integer({ min: 0, max: Math.floor((eligible - 1) / 2) }).map((k) => 2 * k + 1),
        peripherals: fc.array(
          fc.record({
            attached: fc.subarray(indices, { minLength: 1 }),
            exclusive: fc.boolean(),
            kind: fc.constantFrom('can', 'usb', 'camera'),
          }),
          { maxLength: 3 },
        ),
      })
      .chain(({ servers, peripherals }) => {
        const ps = peripherals.map((p, i) => ({ name: `p${i}`, kind: p.kind, attachedTo: p.attached.map((a) => `m${a}`), exclusive: p.exclusive }));
        const workload = fc.record({
          anchor: fc.constantFrom(...named),
          capabilityPick: fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
          peripheralPick: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
          kind: fc.constantFrom('deployment', 'statefulset', 'daemonset'),
          replicas: fc.integer({ min: 0, max: 4 }),
          criticality: fc.constantFrom('critical', 'standard', 'best-effort'),
          cpu: fc.constantFrom(...CPUS),
          memory: fc.constantFrom(...MEMORIES),
        });
        return fc.array(workload, { maxLength: 8 }).map((ws) =>
          boxOf({
            servers,
            modules: named,
            peripherals: ps,
            workloads: ws.map((w, i) => {
              const caps = [...new Set([...(findHardware(w.anchor.hardware)?.capabilities ?? []), ...w.anchor.capabilities])];
              return {
                name: `w${i}`,
                kind: w.kind,
                replicas: w.replicas,
                criticality: w.criticality,
                requires: {
                  capabilities: caps.filter((_, j) => w.capabilityPick[j]),
                  ...(w.cpu ? { cpu: w.cpu } : {}),
                  ...(w.memory ? { memory: w.memory } : {}),
                },
                peripherals: ps.filter((p, j) => p.attachedTo.includes(w.anchor.name) && w.peripheralPick[j]).map((p) => p.name),
              };
            }),
          }),
        );
      });
  });

describe('planner properties on random valid boxes', () => {
  it('never throws, is deterministic and has every single and pair scenario', () => {
    fc.assert(
      fc.property(validBox, (box) => {
        const plan = planBox(box);
        const n = box.spec.modules.length;
        expect(plan.scenarios).toHaveLength(n + (n * (n - 1)) / 2);
        expect(planBox(box)).toEqual(plan);
      }),
      { numRuns: 150 },
    );
  });

  it('scenario semantics: restorable iff a server survives; voters odd, at most servers, 0 when not restorable', () => {
    fc.assert(
      fc.property(validBox, (box) => {
        const plan = planBox(box);
        const { servers } = plan.controlPlane;
        expect(servers).toHaveLength(box.spec.controlPlane.servers);
        // quorumKept and failuresTolerated: against brute force in plan-reference.test.ts.
        for (const s of plan.scenarios) {
          const surviving = servers.filter((m) => !s.failed.includes(m)).length;
          expect(s.restorable).toBe(surviving >= 1);
          if (s.restorable) {
            expect(s.votersAfterRestore % 2).toBe(1);
            expect(s.votersAfterRestore).toBeLessThanOrEqual(servers.length);
          } else {
            expect(s.votersAfterRestore).toBe(0);
          }
          for (const m of s.promoted) expect(plan.controlPlane.promotable).toContain(m);
          expect(s.unplacedWorkloads).toEqual(s.unplaced.map((u) => u.workload));
          for (const u of s.unplaced) expect(u.missingReplicas).toBeGreaterThan(0);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('the initial placement fits: capable modules only, within allocatable in each role, replicas as asked', () => {
    fc.assert(
      fc.property(validBox, (box) => {
        const plan = planBox(box);
        const used = new Map<string, { cpu: number; mem: number; pods: number }>();
        for (const w of box.spec.workloads) {
          const placed = plan.placements[w.name]!;
          for (const m of placed) expect(plan.capable[w.name]).toContain(m);
          const short = plan.unplaced.find((u) => u.workload === w.name)?.missingReplicas ?? 0;
          if (w.kind !== 'daemonset') expect(placed.length + short).toBe(w.replicas);
          if (w.peripherals.some((p) => box.spec.peripherals.find((q) => q.name === p)?.exclusive)) expect(new Set(placed).size).toBeLessThanOrEqual(1);
          for (const m of placed) {
            const u = used.get(m) ?? { cpu: 0, mem: 0, pods: 0 };
            used.set(m, { cpu: u.cpu + cpuMillis(w.requires.cpu), mem: u.mem + memoryBytes(w.requires.memory), pods: u.pods + 1 });
          }
        }
        for (const m of box.spec.modules) {
          const u = used.get(m.name);
          if (!u) continue;
          const alloc = allocatable(findHardware(m.hardware)!, plan.controlPlane.servers.includes(m.name) ? 'server' : 'agent');
          expect(u.cpu).toBeLessThanOrEqual(alloc.cpuMillis);
          expect(u.mem).toBeLessThanOrEqual(alloc.memoryBytes);
          expect(u.pods).toBeLessThanOrEqual(MAX_PODS);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('findings: one per code and subject, every one with a hint, errors only when a rule says so', () => {
    fc.assert(
      fc.property(validBox, (box) => {
        const plan = planBox(box);
        const keys = plan.findings.map((f) => `${f.code} ${f.subjects[0]}`);
        expect(new Set(keys).size).toBe(keys.length);
        for (const f of plan.findings) {
          expect(f.hint.length).toBeGreaterThan(0);
          expect(f.subjects.length).toBeGreaterThan(0);
          if (f.severity === 'error') expect(['plan.initial-placement-failed', 'plan.single-host', 'plan.n1-unplaced']).toContain(f.code);
        }
        expect(plan.findings.some((f) => f.code === 'plan.initial-placement-failed')).toBe(plan.unplaced.length > 0);
      }),
      { numRuns: 150 },
    );
  });
});
