import { describe, expect, it } from 'vitest';
import { describeFault, drawTrial, FAULT_KINDS, faultKinds, K3S_UNPLAYED, LEADER } from '../../src/chaos/faults.js';

const BOX = { modules: ['s1', 's2', 's3', 'a1', 'a2'], servers: ['s1', 's2', 's3'] };

describe('drawTrial', () => {
  it('replays: the same seed and trial give the same plan, whatever was drawn before', () => {
    const later = drawTrial(42, 7, BOX);
    for (let k = 1; k < 7; k++) drawTrial(42, k, BOX);
    expect(drawTrial(42, 7, BOX)).toEqual(later);
  });

  it('gives different trials different plans', () => {
    const plans = new Set(Array.from({ length: 50 }, (_, k) => JSON.stringify(drawTrial(1, k + 1, BOX).faults)));
    expect(plans.size).toBeGreaterThan(45);
  });

  it('covers every kind of the menu within 200 trials', () => {
    const seen = new Set(Array.from({ length: 200 }, (_, k) => drawTrial(1, k + 1, BOX).faults[0]!.kind));
    expect([...seen].sort()).toEqual([...FAULT_KINDS].sort());
  });

  it('on the K3s engine draws every kind it plays and none it does not, each of those with a reason (200 trials)', () => {
    const kinds = faultKinds('k3s');
    expect(kinds.length).toBeGreaterThanOrEqual(9);
    for (const k of FAULT_KINDS) expect(kinds.includes(k) !== (K3S_UNPLAYED[k] !== undefined), k).toBe(true);
    const seen = new Set(Array.from({ length: 200 }, (_, k) => drawTrial(1, k + 1, BOX, kinds).faults[0]!.kind));
    expect([...seen].sort()).toEqual([...kinds].sort());
    expect(faultKinds('process')).toEqual([...FAULT_KINDS]);
  });

  it('draws only faults its box has targets for (300 trials)', () => {
    for (let k = 1; k <= 300; k++) check(k);
  });

  const check = (k: number) => {
    const [f] = drawTrial(3, k, BOX).faults;
    expect(f!.holdMs).toBeGreaterThanOrEqual(2000);
    expect(f!.holdMs).toBeLessThanOrEqual(8000);
    for (const t of f!.targets) expect([...BOX.modules, LEADER]).toContain(t);
    if (['freeze-etcd', 'freeze-apiserver', 'api-hang', 'slow-disk'].includes(f!.kind)) expect(BOX.servers).toContain(f!.targets[0]);
    if (f!.peers) {
      expect(f!.peers.filter((p) => f!.targets.includes(p))).toEqual([]);
      expect(f!.peers.length).toBeGreaterThan(0);
    }
    if (f!.kind === 'partition-minority') expect(f!.targets.length * 2).toBeLessThan(BOX.modules.length);
    if (f!.kind === 'partition-majority') expect(f!.targets.length * 2).toBeGreaterThan(BOX.modules.length);
    if (f!.kind === 'clock-behind') expect(f!.param).toBeLessThan(0);
    if (f!.kind === 'clock-ahead') expect(f!.param).toBeGreaterThan(0);
  };

  it('describes a fault in one line', () => {
    expect(describeFault({ kind: 'partition-peer', targets: ['s1'], peers: ['a2'], atMs: 0, holdMs: 3400 })).toBe('partition-peer s1 | a2 hold 3.4 s');
    expect(describeFault({ kind: 'slow-disk', targets: ['s2'], atMs: 0, holdMs: 2000, param: 50_000 })).toBe('slow-disk s2 fsync +50 ms hold 2.0 s');
  });
});
