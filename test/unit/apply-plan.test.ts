import { describe, expect, it } from 'vitest';
import { refKey, refOf } from '../../src/apply/kinds.js';
import { planApply, type Action, type DesiredState, type ObservedState } from '../../src/apply/plan.js';
import type { KubeObject } from '../../src/render/manifests.js';
import { EDGEBOX_CRD, edgeBoxObject } from '../../src/crd/edgebox-crd.js';
import type { BoxSpec } from '../../src/spec/schema.js';

const BOX = 'vision-cell';
const OWN = { 'app.kubernetes.io/managed-by': 'edgebox', 'edgebox.dev/box': BOX };

function deployment(name: string, replicas = 1, labels: Record<string, string> = OWN): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: BOX, labels }, spec: { replicas } } as KubeObject;
}
const namespace: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: BOX, labels: OWN } };
const pdb = (name: string): KubeObject =>
  ({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name, namespace: BOX, labels: OWN }, spec: { maxUnavailable: 1 } }) as KubeObject;

/** What the API server adds to a stored object; the planner must look through it. */
function live(o: KubeObject, extra: Record<string, unknown> = {}): KubeObject {
  return {
    ...o,
    metadata: {
      ...o.metadata,
      resourceVersion: '42',
      uid: 'u-1',
      generation: 3,
      creationTimestamp: '2026-01-01T00:00:00Z',
      managedFields: [{ manager: 'edgebox' }],
    },
    status: { observedGeneration: 3, replicas: 1 },
    ...extra,
  } as KubeObject;
}

const noNodes: Pick<DesiredState, 'modules'> = { modules: [] };
const key = (o: KubeObject) => refKey(refOf(o));
const summary = (actions: Action[]) => actions.map((a) => (a.type === 'missing-node' ? `missing-node ${a.module}` : `${a.type} ${a.ref.kind}/${a.ref.name}`));

describe('planApply: objects', () => {
  it.each<{ name: string; desired: KubeObject[]; observed: KubeObject[]; dryRun: KubeObject[]; expected: string[] }>([
    {
      name: 'an empty cluster: everything is created, namespace first',
      desired: [deployment('detector-a'), namespace],
      observed: [],
      dryRun: [],
      expected: ['create Namespace/vision-cell', 'create Deployment/detector-a'],
    },
    {
      name: 'the dry-run equals the live object except server fields: unchanged',
      desired: [namespace, deployment('detector-a')],
      observed: [live(namespace), live(deployment('detector-a'))],
      dryRun: [
        live(namespace, { metadata: { ...namespace.metadata, resourceVersion: '43', managedFields: [] } }),
        live(deployment('detector-a'), { status: { replicas: 0 } }),
      ],
      expected: ['unchanged Namespace/vision-cell', 'unchanged Deployment/detector-a'],
    },
    {
      name: 'the dry-run changes a field: update',
      desired: [deployment('detector-a', 2)],
      observed: [live(deployment('detector-a', 1))],
      dryRun: [live(deployment('detector-a', 2))],
      expected: ['update Deployment/detector-a'],
    },
    {
      name: 'an owned object the spec dropped is pruned, in reverse apply order',
      desired: [namespace],
      observed: [live(namespace), live(deployment('uplink')), live(pdb('uplink'))],
      dryRun: [live(namespace)],
      expected: ['unchanged Namespace/vision-cell', 'prune PodDisruptionBudget/uplink', 'prune Deployment/uplink'],
    },
    {
      name: "an object of another box, or nobody's, is never pruned",
      desired: [],
      observed: [live(deployment('theirs', 1, { ...OWN, 'edgebox.dev/box': 'other-box' })), live(deployment('manual', 1, {}))],
      dryRun: [],
      expected: [],
    },
    {
      name: 'an object already being deleted is not pruned again',
      desired: [],
      observed: [live(deployment('uplink'), { metadata: { ...deployment('uplink').metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } })],
      dryRun: [],
      expected: [],
    },
  ])('$name', ({ desired, observed, dryRun, expected }) => {
    const actions = planApply({
      desired: { box: BOX, objects: desired, ...noNodes },
      observed: { objects: observed, nodes: [] },
      dryRunResults: new Map(dryRun.map((o) => [key(o), o])),
    });
    expect(summary(actions)).toEqual(expected);
  });

  it('forces only objects this box owns', () => {
    const mine = deployment('detector-a', 2);
    const theirs = deployment('manual', 2, {});
    const actions = planApply({
      desired: { box: BOX, objects: [mine, theirs, deployment('new')], ...noNodes },
      observed: { objects: [live(deployment('detector-a', 1)), live(deployment('manual', 1, {}))], nodes: [] },
      dryRunResults: new Map([
        [key(mine), live(mine)],
        [key(theirs), live(theirs)],
      ]),
    });
    expect(actions.map((a) => (a.type === 'create' || a.type === 'update' ? `${a.ref.name}:${a.force}` : a.type))).toEqual([
      'detector-a:true',
      'manual:false',
      'new:true',
    ]);
  });

  describe('the EdgeBox object', () => {
    const edgeBox = edgeBoxObject({ metadata: { name: BOX }, spec: { modules: [] } } as unknown as BoxSpec) as KubeObject;
    const crd = EDGEBOX_CRD as KubeObject;
    const withStatus = (o: KubeObject) => live(o, { status: { modules: [{ name: 'jetson-1', health: 'Healthy' }] } });

    it('is created right after its CRD and before anything else of the box', () => {
      const actions = planApply({
        desired: { box: BOX, objects: [deployment('detector-a'), edgeBox, crd, namespace], ...noNodes },
        observed: { objects: [], nodes: [] },
        dryRunResults: new Map(),
      });
      expect(summary(actions)).toEqual([
        'create Namespace/vision-cell',
        'create CustomResourceDefinition/edgeboxes.edgebox.dev',
        `create EdgeBox/${BOX}`,
        'create Deployment/detector-a',
      ]);
    });

    it('is unchanged when only its status (written by the controller and agents) differs', () => {
      const actions = planApply({
        desired: { box: BOX, objects: [edgeBox], ...noNodes },
        observed: { objects: [withStatus(edgeBox)], nodes: [] },
        dryRunResults: new Map([[key(edgeBox), withStatus(edgeBox)]]),
      });
      expect(summary(actions)).toEqual([`unchanged EdgeBox/${BOX}`]);
    });

    it("is forced although unlabelled (its spec is the spec file's), and never pruned, even when labelled", () => {
      const changed = { ...edgeBox, spec: { modules: [{ name: 'jetson-1' }] } } as KubeObject;
      const [update] = planApply({
        desired: { box: BOX, objects: [changed], ...noNodes },
        observed: { objects: [live(edgeBox)], nodes: [] },
        dryRunResults: new Map([[key(edgeBox), live(changed)]]),
      });
      expect(update).toMatchObject({ type: 'update', force: true });
      const labelled = live({ ...edgeBox, metadata: { ...edgeBox.metadata, labels: OWN } });
      expect(planApply({ desired: { box: BOX, objects: [], ...noNodes }, observed: { objects: [labelled], nodes: [] }, dryRunResults: new Map() })).toEqual([]);
    });
  });

  it('an update carries the compared objects without server fields or status', () => {
    const [a] = planApply({
      desired: { box: BOX, objects: [deployment('detector-a', 2)], ...noNodes },
      observed: { objects: [live(deployment('detector-a', 1))], nodes: [] },
      dryRunResults: new Map([[key(deployment('detector-a')), live(deployment('detector-a', 2))]]),
    });
    expect(a).toMatchObject({ type: 'update', before: { spec: { replicas: 1 } }, after: { spec: { replicas: 2 } } });
    if (a?.type !== 'update') throw new Error('expected an update');
    expect(a.before.metadata).toEqual({ name: 'detector-a', namespace: BOX, labels: OWN });
    expect('status' in a.after).toBe(false);
  });

  it('refuses a kind prune would not cover', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: BOX } } as KubeObject;
    expect(() => planApply({ desired: { box: BOX, objects: [cm], ...noNodes }, observed: { objects: [], nodes: [] }, dryRunResults: new Map() })).toThrow(
      /add it to APPLY_KINDS/,
    );
  });
});

describe('planApply: nodes', () => {
  const observed = (nodes: ObservedState['nodes']): ObservedState => ({ objects: [], nodes });
  const intent = {
    module: 'jetson-1',
    labels: { 'edgebox.dev/module': 'jetson-1', 'edgebox.dev/cap.gpu.cuda': 'true' },
    taints: [{ key: 'edgebox.dev/accelerator', value: 'nvidia', effect: 'NoSchedule' as const }],
  };

  it.each<{ name: string; nodes: ObservedState['nodes']; expected: string[] }>([
    { name: 'no node for the module', nodes: [{ metadata: { name: 'motor-1' } }], expected: ['missing-node jetson-1'] },
    {
      name: 'node already labelled and tainted: unchanged',
      nodes: [{ metadata: { name: 'jetson-1', labels: { ...intent.labels, other: 'kept' } }, spec: { taints: intent.taints } }],
      expected: ['unchanged Node/jetson-1'],
    },
    {
      name: 'a node found by its module label when its name differs (a hostname)',
      nodes: [{ metadata: { name: 'tegra-ubuntu', labels: intent.labels }, spec: { taints: intent.taints } }],
      expected: ['unchanged Node/tegra-ubuntu'],
    },
    { name: 'node without the labels: label-node', nodes: [{ metadata: { name: 'jetson-1' } }], expected: ['label-node Node/jetson-1'] },
  ])('$name', ({ nodes, expected }) => {
    const actions = planApply({ desired: { box: BOX, objects: [], modules: [intent] }, observed: observed(nodes), dryRunResults: new Map() });
    expect(summary(actions)).toEqual(expected);
  });
});
