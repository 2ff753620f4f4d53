import { describe, expect, it } from 'vitest';
import { planBox } from '../../src/plan/plan-box.js';
import { isFailing, renderPlanReport } from '../../src/plan/report.js';
import { boxOf, mod } from './plan-helpers.js';

const plan = planBox(
  boxOf({
    servers: 3,
    modules: [mod('a'), mod('b'), mod('c'), mod('j', 'jetson-xavier-nx-8gb', { roles: ['agent'] })],
    workloads: [
      { name: 'detector', criticality: 'critical', requires: { capabilities: ['gpu.cuda'], cpu: '1', memory: '2Gi' } },
      { name: 'web', replicas: 3, requires: { memory: '256Mi' } },
    ],
  }),
);

describe('text report', () => {
  const text = renderPlanReport(plan);

  it('shows the control plane, placement, scenario counts and findings with hints', () => {
    expect(text).toContain('servers     a (cluster-init), b, c');
    expect(text).toContain('quorum      2 of 3');
    expect(text).toMatch(/detector\s+j\s+j\n/);
    expect(text).toMatch(/web\s+a, b, c\s+a, b, c\n/);
    expect(text).toContain('single failures (N-1): 4, quorum kept 4, restorable 4, all workloads placed 3');
    expect(text).toContain('error plan.single-host: detector can only run on j');
    expect(text).toContain('hint: detector can only run on j: a second module with gpu.cuda and room for 1 CPU and 2Gi memory would let detector fail over');
    expect(text).toMatch(/1 error\(s\), \d+ warning\(s\), \d+ info\(s\)\n$/);
  });

  it('lists only the failing scenarios unless asked for all', () => {
    const failing = plan.scenarios.filter(isFailing);
    expect(failing.length).toBeGreaterThan(0);
    expect(failing.length).toBeLessThan(plan.scenarios.length);
    const listed = (t: string) => t.split('\n').filter((l) => l.trimStart().startsWith('lose ')).length;
    expect(listed(text)).toBe(failing.length);
    expect(listed(renderPlanReport(plan, { allScenarios: true }))).toBe(plan.scenarios.length);
    const capped = renderPlanReport(plan, { maxScenarios: 1 });
    expect(listed(capped)).toBe(1);
    expect(capped).toContain(`... and ${failing.length - 1} more failing scenario(s)`);
  });

  it('colours only when asked', () => {
    expect(text).not.toContain('\x1b[');
    // picocolors' createColors(true) colours even off a terminal.
    expect(renderPlanReport(plan, { color: true })).toContain('\x1b[31merror\x1b[39m');
  });
});
