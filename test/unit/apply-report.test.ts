import { describe, expect, it } from 'vitest';
import type { ApplyReport } from '../../src/apply/apply.js';
import { pendingWorkloads, workloadSelectors } from '../../src/apply/pending.js';
import { formatReport, reportView } from '../../src/apply/report.js';
import type { KubeObject } from '../../src/render/manifests.js';

const ns: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cell' } };
const dep = (replicas: number): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'cell' },
  spec: { replicas, selector: { matchLabels: { 'edgebox.dev/box': 'cell', 'edgebox.dev/workload': 'web' } } },
});
const ref = (o: KubeObject) => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  name: o.metadata.name,
  ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
});

const report = (dryRun: boolean): ApplyReport => ({
  box: 'cell',
  dryRun,
  actions: [
    {
      type: 'label-node',
      ref: { apiVersion: 'v1', kind: 'Node', name: 'jetson-1' },
      module: 'jetson-1',
      labels: {},
      changes: [{ op: '+', what: 'label edgebox.dev/cap.gpu=true' }],
    },
    { type: 'missing-node', module: 'jetson-2' },
    { type: 'create', ref: ref(ns), desired: ns, force: true },
    { type: 'update', ref: ref(dep(2)), desired: dep(2), force: true, before: dep(1), after: dep(2) },
    { type: 'prune', ref: { ...ref(dep(1)), name: 'old' }, before: { ...dep(1), metadata: { name: 'old', namespace: 'cell' } } },
  ],
  diagnostics: [],
});

describe('reportView and formatReport', () => {
  it('counts outcomes', () => {
    expect(reportView(report(false)).summary).toEqual({ created: 1, updated: 1, unchanged: 0, pruned: 1, labelled: 1, 'missing-node': 1 });
  });

  it('a dry run speaks in the future and shows every diff', () => {
    const text = formatReport(reportView(report(true)));
    expect(text).toContain('label    Node jetson-1\n    + label edgebox.dev/cap.gpu=true\n');
    expect(text).toContain('no node  Node jetson-2\n');
    expect(text).toContain('create   Namespace cell\n    @@ -0,0 +1,4 @@\n    +apiVersion: v1\n');
    expect(text).toContain('update   Deployment cell/web\n    @@ -4,7 +4,7 @@\n');
    expect(text).toContain('    -  replicas: 1\n    +  replicas: 2\n');
    expect(text).toContain('delete   Deployment cell/old\n    @@ -1,');
    expect(text).toMatch(
      /box cell: dry run, nothing was changed \(1 to create, 1 to update, 0 unchanged, 1 to delete, 1 node to label, 1 module without a node\)\n$/,
    );
  });

  it('a real run lists objects and node changes, without object diffs', () => {
    const text = formatReport(reportView(report(false)));
    expect(text).not.toContain('replicas');
    expect(text).toContain('labelled      Node jetson-1\n    + label edgebox.dev/cap.gpu=true\n');
    expect(text).toMatch(/^pruned\s+Deployment cell\/old$/m);
    expect(text).toMatch(/box cell: applied \(1 created, 1 updated, 0 unchanged, 1 deleted, 1 node labelled, 1 module without a node\)/);
  });

  it('says "no changes" when everything is unchanged', () => {
    const text = formatReport(reportView({ box: 'cell', dryRun: false, actions: [{ type: 'unchanged', ref: ref(ns) }], diagnostics: [] }));
    expect(text).toBe('unchanged  Namespace cell\nbox cell: no changes (0 created, 0 updated, 1 unchanged, 0 deleted, 0 nodes labelled)\n');
  });
});

describe('pendingWorkloads', () => {
  const unschedulable = (name: string, message: string) => ({
    metadata: { name, namespace: 'cell' },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }] },
  });
  const running = {
    metadata: { name: 'web-2', namespace: 'cell' },
    spec: { nodeName: 'net-1' },
    status: { phase: 'Running', conditions: [{ type: 'PodScheduled', status: 'True' }] },
  };

  it.each([
    { name: 'all scheduled: nothing to say', pods: [running], expected: [] },
    {
      name: 'one pod unschedulable: quotes the scheduler',
      pods: [running, unschedulable('web-1', '0/2 nodes are available: 1 Insufficient memory.')],
      expected: ['workload web: pod web-1 is Pending: 0/2 nodes are available: 1 Insufficient memory.'],
    },
    {
      name: 'several: counts them, quotes the first',
      pods: [unschedulable('web-1', 'a'), unschedulable('web-3', 'b')],
      expected: ['workload web: 2 pods are Pending: a'],
    },
  ])('$name', ({ pods, expected }) => {
    const ds = pendingWorkloads([{ workload: dep(1), pods }]);
    expect(ds.map((d) => d.message)).toEqual(expected);
    expect(ds.every((d) => d.code === 'apply.workload-unschedulable' && d.severity === 'warning')).toBe(true);
  });

  it("finds pods by each workload's own selector", () => {
    expect(workloadSelectors([ns, dep(1)])).toEqual([{ workload: dep(1), namespace: 'cell', selector: 'edgebox.dev/box=cell,edgebox.dev/workload=web' }]);
  });
});
