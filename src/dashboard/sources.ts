import { resolve } from 'node:path';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { kubeconfigFlags, loadKubeConfig } from '../kube/kubeconfig.js';
import { GROUP, PLURAL, VERSION } from '../crd/edgebox-crd.js';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { loadSpec, parseSpec, type LoadedSpec } from '../spec/load.js';
import { API_VERSION, KIND } from '../spec/schema.js';
import { LocalBox } from './local-box.js';

export interface SourceOptions {
  kubeconfig?: string;
  context?: string;
  spec?: string;
  localDir?: string;
}

export interface Sources {
  spec: LoadedSpec;
  kc?: KubeConfig;
  local?: LocalBox;
}

/**
 * What the dashboard shows, from the options: the cluster is `--kubeconfig`, else the local
 * box's, else KUBECONFIG or ~/.kube/config when present, else none; the spec is `--spec`, else
 * the local box's, else the cluster's one EdgeBox object.
 */
export async function resolveSources(opts: SourceOptions): Promise<Sources> {
  const local = opts.localDir ? await LocalBox.open(resolve(opts.localDir)) : undefined;
  const kc = opts.kubeconfig || opts.context ? loadKubeConfig(kubeconfigFlags(opts)) : local ? loadKubeConfig({ path: local.kubeconfig }) : defaultKubeConfig();
  const specFile = opts.spec ?? local?.spec;
  const spec = specFile ? await loadSpec(specFile) : await specFromCluster(kc);
  return { spec, ...(kc ? { kc } : {}), ...(local ? { local } : {}) };
}

function defaultKubeConfig(): KubeConfig | undefined {
  try {
    return loadKubeConfig();
  } catch {
    // No kubeconfig anywhere: the dashboard still shows the spec and its what-if analysis.
    return undefined;
  }
}

async function specFromCluster(kc: KubeConfig | undefined): Promise<LoadedSpec> {
  const hint = 'pass --spec box.yaml (the what-if view needs only the spec), or `edgebox apply` the box so the cluster has its EdgeBox object';
  if (!kc) throw inputError('dashboard.no-spec', 'no box to show: no --spec, no --local-dir and no kubeconfig', hint);
  let items: { metadata: { name: string }; spec: unknown }[];
  try {
    const list = await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL });
    items = (list as { items: typeof items }).items;
  } catch (e) {
    throw failure('dashboard.no-spec', `cannot read the EdgeBox objects of ${kc.getCurrentCluster()?.server}: ${(e as Error).message}`, hint);
  }
  if (items.length !== 1) {
    throw inputError(
      'dashboard.no-spec',
      `the cluster has ${items.length} EdgeBox objects${items.length ? ` (${items.map((i) => i.metadata.name).join(', ')})` : ''}`,
      hint,
    );
  }
  const only = items[0]!;
  // The object's spec is the file's spec as validate defaults it, so it parses the same way.
  const text = JSON.stringify({ apiVersion: API_VERSION, kind: KIND, metadata: { name: only.metadata.name }, spec: only.spec });
  return parseSpec(text, `EdgeBox/${only.metadata.name}`);
}
