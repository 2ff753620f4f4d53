import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Cluster } from '../apply/cluster.js';
import { kindInfo } from '../apply/kinds.js';
import { agentServiceAccount } from '../contract/identity.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { mintAgentToken } from '../kube/agent-token.js';
import { coreApi } from '../kube/client.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { renderAgentRbac } from '../render/agent-rbac.js';
import type { KubeObject } from '../render/kube-object.js';
import type { BoxSpec } from '../spec/schema.js';
import { boxFiles, writeKubeconfig } from './credentials.js';
import { moduleDir } from './server-layout.js';

/**
 * Each agent of a local box runs as its module's own ServiceAccount, as on a real box
 * (docs/decisions/0005-one-identity-per-module.md): the box applies the rendered agent RBAC and
 * admission policy before it starts agents, and gives each a kubeconfig with a token minted for
 * its ServiceAccount by the TokenRequest API. What the agents write is then checked exactly as on
 * hardware.
 */

/** `<box>/modules/<module>/agent-kubeconfig.yaml`: the module's agent's own credentials. */
export function agentKubeconfigFile(dir: string, module: string): string {
  return join(moduleDir(dir, module), 'agent-kubeconfig.yaml');
}

/**
 * How long a minted token lasts: a local box is a test bench, and a module revived later reuses
 * its kubeconfig (the API may be down then), so the token outlives any run. 30 days.
 */
export const AGENT_TOKEN_SECONDS = 30 * 24 * 3600;

/** The simulated container runtime lists its module's pods over the API (self-fence/local-runtime.ts); a real runtime asks containerd. */
export const LOCAL_RUNTIME_ROLE = 'edgebox-local-runtime';

/**
 * Read access to pods for every agent of a local box, and only there: render never writes it (a
 * module's agent on hardware lists its pods with crictl). No box ownership labels, so `edgebox
 * apply` on the local box does not prune it as a leftover of the spec.
 */
export function localRuntimeRbac(box: BoxSpec): KubeObject[] {
  const metadata = { name: LOCAL_RUNTIME_ROLE };
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata,
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: LOCAL_RUNTIME_ROLE },
      subjects: box.spec.modules.map((m) => ({ kind: 'ServiceAccount', name: agentServiceAccount(m.name), namespace: SYSTEM_NAMESPACE })),
    },
  ];
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Applies the agents' ServiceAccounts, RBAC and admission policy (what `edgebox apply` applies on a
 * real box, server-side with the same field manager) and the local runtime's pod listing, then
 * writes the kubeconfig of every module in `modules` that has none yet.
 */
export async function ensureAgentIdentities(dir: string, box: BoxSpec, modules: readonly string[]): Promise<void> {
  const files = boxFiles(dir);
  const objects = [...renderAgentRbac(box), ...localRuntimeRbac(box)].sort((a, b) => kindInfo(a).order - kindInfo(b).order);
  const cluster = new Cluster(loadKubeConfig({ path: files.kubeconfig }));
  for (const o of objects) await cluster.apply(o, { dryRun: false, force: true });
  await writeAgentKubeconfigs(dir, box, modules);
}

/** Mints a token for each module's ServiceAccount that has no kubeconfig yet and writes it (a revived module keeps its own). */
export async function writeAgentKubeconfigs(dir: string, box: BoxSpec, modules: readonly string[]): Promise<void> {
  const files = boxFiles(dir);
  const server = loadKubeConfig({ path: files.kubeconfig }).getCurrentCluster()?.server ?? '';
  const core = coreApi(files.kubeconfig);
  for (const module of modules) {
    const path = agentKubeconfigFile(dir, module);
    if (await exists(path)) continue;
    const name = agentServiceAccount(module);
    const token = await mintAgentToken(core, module, AGENT_TOKEN_SECONDS, 'see the API server log');
    await mkdir(moduleDir(dir, module), { recursive: true });
    await writeKubeconfig(files, path, { box: box.metadata.name, server, token, user: name });
  }
}
