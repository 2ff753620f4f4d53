import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBox } from '../../src/apply/apply.js';
import { Cluster } from '../../src/apply/cluster.js';
import { reportView } from '../../src/apply/report.js';
import { renderManifests } from '../../src/render/manifests.js';
import { ownsLabel } from '../../src/contract/peripherals.js';
import { loadSpec } from '../../src/spec/load.js';
import { edgebox, editedSpec, ROOT, workloadPods } from './apply-helpers.js';
import { eventually, startBox } from './harness.js';

const SPEC = join(ROOT, 'examples/article-box.yaml');
const NS = 'vision-cell';

let box: Awaited<ReturnType<typeof startBox>>;
let cluster: Cluster;

beforeAll(async () => {
  box = await startBox(SPEC, { timings: 'tuned' });
  cluster = new Cluster(box.kc);
});
afterAll(async () => {
  await box?.stop();
});

const outcomes = (r: Awaited<ReturnType<typeof applyBox>>) =>
  reportView(r).actions.map((a) => `${a.outcome} ${a.kind} ${a.namespace ? `${a.namespace}/` : ''}${a.name}`);

/** resourceVersion of every object the box renders, by kind/name. */
async function versions(spec: string): Promise<Record<string, string>> {
  const { box: b } = await loadSpec(spec);
  const out: Record<string, string> = {};
  for (const o of renderManifests(b)) {
    const live = await cluster.read({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.metadata.name,
      ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
    });
    out[`${o.kind}/${o.metadata.name}`] = String(live?.metadata.resourceVersion ?? 'missing');
  }
  return out;
}

// Counts include the objects of the self-healing controller (renderController): CRD, namespace
// edgebox-system, ServiceAccount, RBAC and its Deployment; the agents' identities (a ServiceAccount,
// ClusterRole, Role and bindings per module, the shared role, the admission policy and its
// binding); kube-vip's RBAC and the nvidia RuntimeClass; and the EdgeBox object.
describe('edgebox apply on the seed box', () => {
  it('--dry-run on an empty box prints the diff and changes nothing', async () => {
    const run = await edgebox(['apply', SPEC, '--kubeconfig', box.kubeconfigPath, '--dry-run']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^create\s+Namespace vision-cell$/m);
    expect(run.stdout).toMatch(/^create\s+Deployment vision-cell\/detector-a$/m);
    expect(run.stdout).toContain('+kind: Deployment');
    expect(run.stdout).toMatch(/^create\s+EdgeBox vision-cell$/m);
    expect(run.stdout).toMatch(/box vision-cell: dry run, nothing was changed \(56 to create, 0 to update, 5 unchanged/);
    expect(await cluster.read({ apiVersion: 'v1', kind: 'Namespace', name: NS })).toBeUndefined();
  });

  it('applies the box; the scheduler puts the AI workloads on Jetsons with CUDA and motor control on the CAN bus', async () => {
    const { box: spec } = await loadSpec(SPEC);
    const report = await applyBox({ box: spec, cluster });
    expect(reportView(report).summary).toMatchObject({ created: 56, updated: 0, pruned: 0, 'missing-node': 0 });

    for (const w of ['detector-a', 'detector-b']) {
      const pods = await eventually(
        async () => {
          const p = await workloadPods(box.kc, NS, w);
          if (p.length !== 1 || p[0]?.phase !== 'Running') throw new Error(`${w}: ${JSON.stringify(p.map((x) => [x.name, x.node, x.phase]))}`);
          return p;
        },
        { timeoutMs: 60_000, intervalMs: 500, message: `${w} Running` },
      );
      expect(pods[0]?.nodeLabels['edgebox.dev/cap.gpu.cuda']).toBe('true');
      expect(pods[0]?.nodeLabels['edgebox.dev/hardware']).toMatch(/^jetson-/);
    }
    // motor-bus is exclusive: its workload runs only on the owner, which the controller labels
    // (docs/decisions/0003-peripherals.md). This box runs no controller: label motor-1 as it would.
    await box.kc
      .makeApiClient(CoreV1Api)
      .patchNode(
        { name: 'motor-1', body: { metadata: { labels: { [ownsLabel('motor-bus')]: 'true' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const motor = await eventually(
      async () => {
        const p = await workloadPods(box.kc, NS, 'motor-controller');
        if (p[0]?.phase !== 'Running') throw new Error(JSON.stringify(p));
        return p;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'motor-controller Running' },
    );
    expect(motor[0]?.nodeLabels['edgebox.dev/peripheral.motor-bus']).toBe('true');
    expect(['motor-1', 'master-1']).toContain(motor[0]?.node);

    // Every pod of the box runs: one per Deployment and the StatefulSet, telemetry on all five modules.
    await eventually(
      async () => {
        const pods = (await box.kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NS })).items;
        const phases = pods.map((p) => `${p.metadata?.name}:${p.status?.phase}`);
        if (pods.length !== 9 || pods.some((p) => p.status?.phase !== 'Running')) throw new Error(phases.join(' '));
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'all 9 pods Running' },
    );
  });

  it('a second apply is a no-op: every object unchanged, no resourceVersion moves', async () => {
    // Let the controllers finish their own writes (revision annotation, status) first.
    await eventually(
      async () => {
        const d = await box.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'uplink', namespace: NS });
        if (d.status?.readyReplicas !== 1) throw new Error('uplink not ready');
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'uplink ready' },
    );
    const before = await versions(SPEC);
    const run = await edgebox(['apply', SPEC, '--kubeconfig', box.kubeconfigPath, '-o', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const view = JSON.parse(run.stdout) as { actions: { outcome: string }[]; summary: Record<string, number> };
    expect(view.actions.every((a) => a.outcome === 'unchanged')).toBe(true);
    expect(view.summary).toMatchObject({ unchanged: 61, created: 0, updated: 0, pruned: 0, labelled: 0 });
    expect(await versions(SPEC)).toEqual(before);
  });

  it('creates the EdgeBox object with the spec; a re-apply leaves the status others wrote', async () => {
    const custom = box.kc.makeApiClient(CustomObjectsApi);
    const ref = { group: 'edgebox.dev', version: 'v1alpha1', plural: 'edgeboxes', name: 'vision-cell' };
    type EdgeBoxObject = { metadata: { labels?: Record<string, string> }; spec: { modules: { name: string }[] }; status?: { modules?: unknown[] } };
    const created = (await custom.getClusterCustomObject(ref)) as EdgeBoxObject;
    expect(created.spec.modules.map((m) => m.name)).toContain('jetson-1');
    // Unlabelled: prune never finds it.
    expect(created.metadata.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
    const modules = [{ name: 'jetson-1', health: 'Healthy', role: 'agent' }];
    await custom.replaceClusterCustomObjectStatus({ ...ref, body: { ...created, status: { modules } } });

    const { box: spec } = await loadSpec(SPEC);
    expect(outcomes(await applyBox({ box: spec, cluster }))).toContain('unchanged EdgeBox vision-cell');
    expect(((await custom.getClusterCustomObject(ref)) as EdgeBoxObject).status?.modules).toEqual(modules);
  });

  it('takes back a hand edit: --dry-run shows the diff and changes nothing, apply reverts it', async () => {
    const apps = box.kc.makeApiClient(AppsV1Api);
    await apps.patchNamespacedDeploymentScale({ name: 'detector-b', namespace: NS, body: [{ op: 'replace', path: '/spec/replicas', value: 2 }] });
    const dry = await edgebox(['apply', SPEC, '--kubeconfig', box.kubeconfigPath, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^update\s+Deployment vision-cell\/detector-b$/m);
    expect(dry.stdout).toContain('-  replicas: 2');
    expect(dry.stdout).toContain('+  replicas: 1');
    expect((await apps.readNamespacedDeployment({ name: 'detector-b', namespace: NS })).spec?.replicas).toBe(2);

    const { box: spec } = await loadSpec(SPEC);
    expect(outcomes(await applyBox({ box: spec, cluster })).filter((o) => !o.startsWith('unchanged'))).toEqual(['updated Deployment vision-cell/detector-b']);
    expect((await apps.readNamespacedDeployment({ name: 'detector-b', namespace: NS })).spec?.replicas).toBe(1);
  });

  it("puts back a node label and taint someone removed, keeping the node's other labels and taints", async () => {
    const core = box.kc.makeApiClient(CoreV1Api);
    const node = await core.readNode({ name: 'jetson-2' });
    const taints = node.spec?.taints ?? [];
    await core.patchNode({
      name: 'jetson-2',
      body: [
        { op: 'remove', path: '/metadata/labels/edgebox.dev~1cap.gpu.cuda' },
        { op: 'add', path: '/metadata/labels/site', value: 'lab' },
        {
          op: 'replace',
          path: '/spec/taints',
          value: [...taints.filter((t) => t.key !== 'edgebox.dev/accelerator'), { key: 'maintenance', value: 'soon', effect: 'PreferNoSchedule' }],
        },
      ],
    });
    const { box: spec } = await loadSpec(SPEC);
    const report = await applyBox({ box: spec, cluster });
    const label = report.actions.find((a) => a.type === 'label-node');
    expect(label?.type === 'label-node' && label.changes.map((c) => `${c.op} ${c.what}`)).toEqual([
      '+ label edgebox.dev/cap.gpu.cuda=true',
      '+ taint edgebox.dev/accelerator=gpu:NoSchedule',
    ]);
    const after = await core.readNode({ name: 'jetson-2' });
    expect(after.metadata?.labels).toMatchObject({ 'edgebox.dev/cap.gpu.cuda': 'true', site: 'lab', 'edgebox.dev/local-heartbeat': 'kwok' });
    expect(after.spec?.taints?.map((t) => t.key).sort()).toEqual(['edgebox.dev/accelerator', 'maintenance']);
    expect(reportView(await applyBox({ box: spec, cluster })).summary.labelled).toBe(0);
  });

  it('removes a workload the spec no longer has, and nothing else', async () => {
    const smaller = await editedSpec(SPEC, { dropWorkloads: ['uplink'] });
    const run = await edgebox(['apply', smaller, '--kubeconfig', box.kubeconfigPath]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^pruned\s+Deployment vision-cell\/uplink$/m);
    expect(run.stdout).toMatch(/1 deleted/);
    expect(await cluster.read({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'uplink', namespace: NS })).toBeUndefined();
    await eventually(
      async () => {
        const left = await workloadPods(box.kc, NS, 'uplink');
        if (left.length) throw new Error(`uplink pods left: ${left.map((p) => p.name).join(', ')}`);
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'uplink pods gone' },
    );
    expect(await cluster.read({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'detector-a', namespace: NS })).toBeDefined();

    const again = await edgebox(['apply', smaller, '--kubeconfig', box.kubeconfigPath]);
    expect(again.stdout).toMatch(/no changes \(0 created, 0 updated, 60 unchanged, 0 deleted/);
  });
});
