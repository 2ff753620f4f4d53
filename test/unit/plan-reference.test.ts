import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HARDWARE } from '../../src/catalog/hardware.js';
import { planBox } from '../../src/plan/plan-box.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { boxOf } from './plan-helpers.js';

/**
 * The planner against a reference model written here from docs/plan.md, by brute force and with
 * none of the planner's code: small boxes whose workloads ask for so little CPU and memory that
 * room never decides, so what survives a failure depends only on who can host what. Then:
 * - a module hosts workloads only when it runs the agent role;
 * - it is capable of a workload when it has every capability the workload requires (catalog
 *   plus the spec's) and is attached to every peripheral the workload uses;
 * - a workload that wants pods is short after a failure exactly when no surviving module is
 *   capable (replicas may share a module; a daemonset with no capable survivor still wants one);
 * - an exclusive peripheral is orphaned exactly when every module it is attached to failed;
 * - the control plane keeps quorum exactly when more than half of the initial servers survive,
 *   and tolerates j failures exactly when every set of j failed modules keeps it.
 * Hardware with a GPU accelerator is left out: its taint is a placement rule the model does not
 * restate. Each exclusive peripheral serves at most one workload, and no daemonset, so that who
 * owns it is never a choice.
 */

// No GPU accelerator: no accelerator taint.
const PLAIN_HARDWARE = HARDWARE.filter((h) => h.accelerator?.kind !== 'gpu');
const CAPABILITIES = ['can', 'wifi', 'nvme', 'serial', 'usb', 'camera.csi'];

interface Small {
  box: BoxSpec;
  /** Per module: capabilities it has, peripherals attached, whether it hosts workloads. */
  modules: { name: string; capabilities: Set<string>; peripherals: Set<string>; hosts: boolean }[];
}

const smallBox: fc.Arbitrary<Small> = fc
  .array(
    fc.record({
      hardware: fc.constantFrom(...PLAIN_HARDWARE),
      roles: fc.constantFrom<('server' | 'agent')[]>(['server', 'agent'], ['server', 'agent'], ['agent'], ['server']),
      capabilities: fc.subarray(['can', 'wifi']),
    }),
    { minLength: 2, maxLength: 6 },
  )
  .chain((modules) => {
    // A server, and a module that hosts workloads, so the loader accepts the box.
    modules[0]!.roles = ['server', 'agent'];
    const named = modules.map((m, i) => ({ ...m, name: `m${i}` }));
    const eligible = named.filter((m) => m.roles.includes('server')).length;
    const indices = named.map((_, i) => i);
    return fc.record({
      modules: fc.constant(named),
      servers: fc.integer({ min: 0, max: Math.floor((eligible - 1) / 2) }).map((k) => 2 * k + 1),
      peripherals: fc.array(fc.record({ attached: fc.subarray(indices, { minLength: 1, maxLength: Math.min(3, indices.length) }), exclusive: fc.boolean() }), {
        maxLength: 3,
      }),
      workloads: fc.array(
        fc.record({
          kind: fc.constantFrom('deployment', 'deployment', 'statefulset', 'daemonset'),
          replicas: fc.integer({ min: 0, max: 3 }),
          // Requirements come from an anchor module that hosts workloads: the loader rejects a
          // workload no module can run.
          anchor: fc.constantFrom(...named.filter((m) => m.roles.includes('agent'))),
          capabilities: fc.subarray(CAPABILITIES, { maxLength: 2 }),
          peripheral: fc.option(fc.nat(2), { nil: undefined }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
    });
  })
  .map(({ modules, servers, peripherals, workloads }): Small => {
    const ps = peripherals.map((p, i) => ({ name: `p${i}`, kind: 'can', attachedTo: p.attached.map((a) => `m${a}`), exclusive: p.exclusive }));
    const claimed = new Set<string>();
    const ws = workloads.map((w, i) => {
      const anchorCaps = new Set([...w.anchor.hardware.capabilities, ...w.anchor.capabilities]);
      const p = w.peripheral === undefined ? undefined : ps.filter((q) => q.attachedTo.includes(w.anchor.name))[w.peripheral];
      // At most one workload per exclusive peripheral, and never a daemonset.
      const usable = p && !(p.exclusive && (claimed.has(p.name) || w.kind === 'daemonset'));
      if (usable && p.exclusive) claimed.add(p.name);
      return {
        name: `w${i}`,
        kind: w.kind,
        replicas: w.replicas,
        requires: { capabilities: w.capabilities.filter((c) => anchorCaps.has(c)), cpu: '10m', memory: '16Mi' },
        peripherals: usable ? [p.name] : [],
      };
    });
    const box = boxOf({
      servers,
      modules: modules.map((m) => ({ name: m.name, hardware: m.hardware.id, roles: m.roles, capabilities: m.capabilities })),
      peripherals: ps,
      workloads: ws,
    });
    return {
      box,
      modules: modules.map((m) => ({
        name: m.name,
        capabilities: new Set([...m.hardware.capabilities, ...m.capabilities]),
        peripherals: new Set(ps.filter((p) => p.attachedTo.includes(m.name)).map((p) => p.name)),
        hosts: m.roles.includes('agent'),
      })),
    };
  });

/** The reference: can module `m` host workload `w`? */
function capable(s: Small, w: BoxSpec['spec']['workloads'][number], m: string): boolean {
  const mod = s.modules.find((x) => x.name === m)!;
  return mod.hosts && w.requires.capabilities.every((c) => mod.capabilities.has(c)) && w.peripherals.every((p) => mod.peripherals.has(p));
}

/** The reference: the workloads short of pods when `failed` are down, in spec order. */
function shortAfter(s: Small, failed: readonly string[]): string[] {
  const survivors = s.modules.map((m) => m.name).filter((m) => !failed.includes(m));
  return s.box.spec.workloads
    .filter((w) => (w.kind === 'daemonset' || w.replicas > 0) && !survivors.some((m) => capable(s, w, m)))
    .map((w) => w.name)
    .sort();
}

/** Every set of `j` of `xs`. */
function subsets<T>(xs: readonly T[], j: number): T[][] {
  if (j === 0) return [[]];
  return xs.flatMap((x, i) => subsets(xs.slice(i + 1), j - 1).map((rest) => [x, ...rest]));
}

describe('planner against a brute-force reference model', () => {
  it('which workloads are short after every single and pair failure', () => {
    let boxes = 0;
    let mixed = 0;
    fc.assert(
      fc.property(smallBox, (s) => {
        const plan = planBox(s.box);
        const answers = new Set<boolean>();
        for (const sc of plan.scenarios) {
          const expected = shortAfter(s, sc.failed);
          answers.add(expected.length > 0);
          expect([...sc.unplacedWorkloads].sort(), `failed ${sc.failed.join('+')}`).toEqual(expected);
        }
        // With every module up, too.
        expect(plan.unplaced.map((u) => u.workload).sort()).toEqual(shortAfter(s, []));
        boxes++;
        if (answers.size === 2) mixed++;
      }),
      { numRuns: 200 },
    );
    // Not vacuous: in most boxes some failures leave a workload short and others do not.
    expect(mixed / boxes).toBeGreaterThanOrEqual(0.3);
  });

  it('hosts every placed pod on a module the model calls capable, daemonsets on every capable module', () => {
    fc.assert(
      fc.property(smallBox, (s) => {
        const plan = planBox(s.box);
        for (const w of s.box.spec.workloads) {
          const placed = plan.placements[w.name] ?? [];
          for (const m of placed) expect(capable(s, w, m), `${w.name} on ${m}`).toBe(true);
          const capableModules = s.modules.map((m) => m.name).filter((m) => capable(s, w, m));
          expect([...(plan.capable[w.name] ?? [])].sort()).toEqual(capableModules);
          if (w.kind === 'daemonset') expect([...placed].sort()).toEqual(capableModules);
          else if (capableModules.length > 0) expect(placed).toHaveLength(w.replicas);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('orphans an exclusive peripheral exactly when every module it is attached to failed', () => {
    let orphaned = 0;
    fc.assert(
      fc.property(smallBox, (s) => {
        for (const sc of planBox(s.box).scenarios) {
          const expected = s.box.spec.peripherals.filter((p) => p.exclusive && p.attachedTo.every((m) => sc.failed.includes(m))).map((p) => p.name);
          if (expected.length > 0) orphaned++;
          expect([...sc.orphanedPeripherals].sort()).toEqual(expected.sort());
        }
      }),
      { numRuns: 200 },
    );
    expect(orphaned).toBeGreaterThan(50);
  });

  it('keeps quorum exactly when more than half the initial servers survive, and tolerates j failures exactly when every j-module failure keeps it', () => {
    const tolerated = new Set<number>();
    fc.assert(
      fc.property(smallBox, (s) => {
        const plan = planBox(s.box);
        const servers = plan.controlPlane.servers;
        expect(servers).toHaveLength(s.box.spec.controlPlane.servers);
        const keeps = (failed: readonly string[]) => servers.filter((m) => !failed.includes(m)).length * 2 > servers.length;
        for (const sc of plan.scenarios) expect(sc.quorumKept, `failed ${sc.failed.join('+')}`).toBe(keeps(sc.failed));
        const names = s.modules.map((m) => m.name);
        let j = 0;
        while (j < names.length && subsets(names, j + 1).every(keeps)) j++;
        expect(plan.controlPlane.failuresTolerated).toBe(j);
        tolerated.add(j);
      }),
      { numRuns: 200 },
    );
    // Boxes with 1, 3 and 5 servers: 0, 1 and 2 failures tolerated.
    expect([...tolerated].sort()).toEqual([0, 1, 2]);
  });
});
