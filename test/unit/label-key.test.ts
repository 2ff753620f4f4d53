import { describe, expect, it } from 'vitest';
import { labelKeyProblem } from '../../src/spec/label-key.js';

describe('node label keys of the spec', () => {
  it.each([
    'rack',
    'power-domain',
    'a',
    'A_b.c-9',
    'example.com/rack',
    'a.b.c/x',
    `${'a'.repeat(63)}`,
    `${'a'.repeat(253)}/x`,
    'node.kubernetes.io/zone-name',
    'team.node.kubernetes.io/x',
    'kubelet.kubernetes.io/x',
    'topology.kubernetes.io/zone',
    'kubernetes.io/hostname',
    'edgebox.devices/x',
  ])('accepts %s', (key) => {
    expect(labelKeyProblem(key)).toBeUndefined();
  });

  it.each([
    ['', 'spec.label-key'],
    ['-rack', 'spec.label-key'],
    ['rack-', 'spec.label-key'],
    ['ra ck', 'spec.label-key'],
    [`${'a'.repeat(64)}`, 'spec.label-key'],
    ['example.com/', 'spec.label-key'],
    ['/rack', 'spec.label-key'],
    ['a/b/c', 'spec.label-key'],
    ['Example.com/rack', 'spec.label-key'],
    [`${'a'.repeat(254)}/x`, 'spec.label-key'],
    ['edgebox.dev/cap.gpu', 'spec.reserved-label'],
    ['edgebox.dev/module', 'spec.reserved-label'],
    ['agent.edgebox.dev/x', 'spec.reserved-label'],
    ['kubernetes.io/role', 'spec.reserved-label'],
    ['node-role.kubernetes.io/edge', 'spec.reserved-label'],
    ['k8s.io/x', 'spec.reserved-label'],
  ])('refuses %s (%s)', (key, code) => {
    const problem = labelKeyProblem(key);
    expect(problem?.code).toBe(code);
    expect(problem?.hint.length).toBeGreaterThan(0);
  });
});
