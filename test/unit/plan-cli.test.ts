import { describe, expect, it } from 'vitest';
import { edgebox } from './run-cli.js';

describe('edgebox plan', () => {
  it.each([
    ['the seed design', 'examples/article-box.yaml', 0],
    ['the Jetson Mate', 'examples/jetson-mate.yaml', 0],
    ['the Turing Pi 2', 'examples/turing-pi-2.yaml', 0],
    // vision is critical and needs the only CUDA module: losing it leaves vision with no host.
    ['a critical single-host workload', 'test/fixtures/plan/critical-single-host.yaml', 1],
    ['an invalid spec', 'test/fixtures/invalid/many-errors.yaml', 2],
    ['a missing file', 'no/such/box.yaml', 2],
  ])('%s (%s) exits %i', (_name, file, code) => {
    expect(edgebox('plan', file).code).toBe(code);
  });

  it('prints the issue-mandated JSON shape', () => {
    const r = edgebox('plan', 'examples/article-box.yaml', '-o', 'json');
    const plan = JSON.parse(r.stdout);
    expect(plan).toMatchObject({
      box: 'vision-cell',
      controlPlane: { servers: ['master-1', 'net-1', 'jetson-1'], quorum: 2, failuresTolerated: 1, promotable: ['jetson-2'] },
      placements: { 'detector-a': ['jetson-2'], 'motor-controller': ['motor-1'] },
    });
    expect(plan.scenarios).toHaveLength(5 + 10);
    for (const s of plan.scenarios)
      expect(Object.keys(s)).toEqual(expect.arrayContaining(['failed', 'quorumKept', 'restorable', 'unplacedWorkloads', 'orphanedPeripherals']));
    for (const f of plan.findings) expect(Object.keys(f).sort()).toEqual(['code', 'hint', 'message', 'severity', 'subjects']);
  });

  it('prints a text report without colour off a terminal', () => {
    const r = edgebox('plan', 'test/fixtures/plan/critical-single-host.yaml');
    expect(r.stdout).toContain('Control plane');
    expect(r.stdout).toContain('error plan.single-host: vision can only run on orin');
    expect(r.stdout).not.toContain('\x1b[');
  });
});
