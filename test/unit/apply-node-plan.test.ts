import { describe, expect, it } from 'vitest';
import { planNode, type ModuleIntent, type ObservedNode } from '../../src/apply/node-plan.js';

const accel = { key: 'edgebox.dev/accelerator', value: 'nvidia', effect: 'NoSchedule' as const };
const unreachable = { key: 'node.kubernetes.io/unreachable', value: '', effect: 'NoExecute' as const };
const intent = (labels: Record<string, string>, taints = [accel]): ModuleIntent => ({ module: 'jetson-1', labels, taints });
const appliedBy = (manager: string, keys: string[], operation = 'Apply') => ({
  manager,
  operation,
  fieldsV1: { 'f:metadata': { 'f:labels': Object.fromEntries([['.', {}], ...keys.map((k) => [`f:${k}`, {}])]) } },
});

describe('planNode', () => {
  it.each<{ name: string; node: ObservedNode; intent: ModuleIntent; changes: string[]; taints?: unknown }>([
    {
      name: 'adds missing labels and the taint, keeping what others set',
      node: { metadata: { name: 'jetson-1', labels: { 'kubernetes.io/hostname': 'jetson-1' } }, spec: { taints: [unreachable] } },
      intent: intent({ 'edgebox.dev/cap.gpu.cuda': 'true' }),
      changes: ['+ label edgebox.dev/cap.gpu.cuda=true', '+ taint edgebox.dev/accelerator=nvidia:NoSchedule'],
      taints: { current: [unreachable], next: [unreachable, accel] },
    },
    {
      name: 'corrects a label with another value',
      node: { metadata: { name: 'jetson-1', labels: { zone: 'edge' } }, spec: { taints: [accel] } },
      intent: intent({ zone: 'core' }),
      changes: ['~ label zone=core (was edge)'],
    },
    {
      name: 'removes a label edgebox applied that the spec dropped, never one set by someone else',
      node: {
        metadata: {
          name: 'jetson-1',
          labels: { 'edgebox.dev/cap.can': 'true', 'edgebox.dev/local-heartbeat': 'kwok', zone: 'core' },
          managedFields: [appliedBy('edgebox', ['edgebox.dev/cap.can', 'zone']), appliedBy('edgebox-local', ['edgebox.dev/local-heartbeat'], 'Update')],
        },
        spec: { taints: [accel] },
      },
      intent: intent({ zone: 'core' }),
      changes: ['- label edgebox.dev/cap.can=true'],
    },
    {
      name: "removes an accelerator taint the spec no longer wants, keeping the controller's",
      node: { metadata: { name: 'jetson-1', labels: {} }, spec: { taints: [accel, unreachable] } },
      intent: intent({}, []),
      changes: ['- taint edgebox.dev/accelerator=nvidia:NoSchedule'],
      taints: { current: [accel, unreachable], next: [unreachable] },
    },
    {
      name: 'replaces an accelerator taint with another value',
      node: { metadata: { name: 'jetson-1', labels: {} }, spec: { taints: [{ ...accel, value: 'hailo' }] } },
      intent: intent({}),
      changes: ['+ taint edgebox.dev/accelerator=nvidia:NoSchedule', '- taint edgebox.dev/accelerator=hailo:NoSchedule'],
      taints: { current: [{ ...accel, value: 'hailo' }], next: [accel] },
    },
    {
      name: 'nothing to do',
      node: { metadata: { name: 'jetson-1', labels: { a: 'b' }, managedFields: [appliedBy('edgebox', ['a'])] }, spec: { taints: [accel] } },
      intent: intent({ a: 'b' }),
      changes: [],
    },
  ])('$name', ({ node, intent: want, changes, taints }) => {
    const plan = planNode(node, want);
    expect(plan.changes.map((c) => `${c.op} ${c.what}`)).toEqual(changes);
    expect(plan.taints).toEqual(taints);
    expect(plan.labels).toEqual(want.labels);
  });
});
