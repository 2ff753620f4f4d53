import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { parseDocument } from 'yaml';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'bin/edgebox.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI, as a user would. */
export async function edgebox(args: string[]): Promise<CliResult> {
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm run test:integration does)');
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A copy of a spec with some workloads removed, or with more modules. */
export async function editedSpec(specPath: string, edit: { dropWorkloads?: string[]; addModules?: object[] }): Promise<string> {
  const doc = parseDocument(await readFile(specPath, 'utf8'));
  const js = doc.toJS() as { spec: { workloads: { name: string }[]; modules: object[] } };
  js.spec.workloads = js.spec.workloads.filter((w) => !edit.dropWorkloads?.includes(w.name));
  js.spec.modules = [...js.spec.modules, ...(edit.addModules ?? [])];
  const file = join(await mkdtemp(join(tmpdir(), 'edgebox-apply-spec-')), 'box.yaml');
  await writeFile(file, JSON.stringify(js));
  return file;
}

export interface PodView {
  name: string;
  node?: string;
  phase?: string;
  nodeLabels: Record<string, string>;
}

/** The pods of one workload (by the edgebox.dev/workload label) with the labels of their nodes. */
export async function workloadPods(kc: KubeConfig, namespace: string, workload: string): Promise<PodView[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const pods = await core.listNamespacedPod({ namespace, labelSelector: `edgebox.dev/workload=${workload}` });
  const nodes = await core.listNode();
  return pods.items.map((p) => ({
    name: p.metadata?.name ?? '',
    ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
    ...(p.status?.phase ? { phase: p.status.phase } : {}),
    nodeLabels: nodes.items.find((n) => n.metadata?.name === p.spec?.nodeName)?.metadata?.labels ?? {},
  }));
}
