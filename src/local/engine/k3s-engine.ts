import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { initialServers } from '../../plan/control-plane.js';
import { KUBELET_CONFIG_FILE, renderK3sConfig, renderKubeletConfig } from '../../render/k3s-config.js';
import { loadSpec } from '../../spec/load.js';
import type { BoxState } from '../box-state.js';
import { boxFiles, readToken } from '../credentials.js';
import { awaitProcessHealthy } from '../launch.js';
import { isRunning, sleep, spawnDetached, stopProcesses } from '../processes.js';
import { seconds, timed } from '../progress.js';
import { moduleDir, readServerRecord, writeServerRecord, type ServerProcess } from '../server-layout.js';
import type { LocalEngine } from './engine.js';
import { createNetwork, removeNetwork } from './k3s-net.js';
import { apiUrl, k3sNetwork, K3S_API_PORT, localOverrides, refusedFlags, serverCommand } from './k3s-plan.js';
import { failure } from '../../diagnostics/diagnostic.js';
import { requireK3s } from './k3s-setup.js';

/** A K3s server is ready in 10-20 s here (k3s-here.md); three share two cores while joining. */
const K3S_START_TIMEOUT_MS = 180_000;

/** Where a module's K3s keeps its state: its data dir and the upper layer of its /etc. */
export function k3sPaths(dir: string, module: string) {
  const base = join(moduleDir(dir, module), 'k3s');
  return {
    dataDir: join(base, 'data'),
    etcUpper: join(base, 'etc'),
    etcWork: join(base, 'etc-work'),
    kubeconfig: join(base, 'kubeconfig.yaml'),
    serverCa: join(base, 'data', 'server', 'tls', 'server-ca.crt'),
    log: join(dir, 'logs', `k3s-${module}.log`),
  };
}

function k3sOf(state: BoxState): NonNullable<BoxState['k3s']> {
  if (!state.k3s) throw new Error(`box '${state.box}' runs no K3s engine`);
  return state.k3s;
}

/**
 * Installs the module's rendered files where K3s reads them on a module (in its /etc layer):
 * config.yaml and the kubelet config as render wrote them, the join token, and the local box's
 * drop-in (k3s-plan.ts localOverrides). Then starts `k3s server` in the module's namespaces.
 */
async function launchServer(state: BoxState, module: string, o: { rendered: string; joinUrl?: string; token: string }): Promise<ServerProcess> {
  const k3s = k3sOf(state);
  const p = k3sPaths(state.dir, module);
  const member = k3s.network.members[module];
  if (!member) throw new Error(`module '${module}' has no namespace in box '${state.box}'`);
  const etc = join(p.etcUpper, 'rancher', 'k3s');
  await mkdir(join(etc, 'config.yaml.d'), { recursive: true });
  await mkdir(p.etcWork, { recursive: true });
  await writeFile(join(etc, 'config.yaml'), o.rendered);
  await writeFile(join(etc, KUBELET_CONFIG_FILE), renderKubeletConfig());
  await writeFile(join(etc, 'edgebox-token'), `${o.token}\n`, { mode: 0o600 });
  const overrides = localOverrides({
    address: member.address,
    ...(o.joinUrl ? { joinUrl: o.joinUrl } : {}),
    dataDir: p.dataDir,
    kubeconfig: p.kubeconfig,
    tokenFile: boxFiles(state.dir).tokenFile,
  });
  await writeFile(
    join(etc, 'config.yaml.d', '90-edgebox-local.yaml'),
    `# edgebox local box: what a test box changes (src/local/engine/k3s-plan.ts)\n${stringify(overrides)}`,
  );
  const cmd = serverCommand({ netns: member.netns, etcUpper: p.etcUpper, etcWork: p.etcWork, bin: k3s.binary, module });
  const pid = spawnDetached({ bin: cmd.bin, args: cmd.args, log: p.log, cwd: state.dir, env: { ...process.env, ...cmd.env } });
  const proc: ServerProcess = { pid, bin: k3s.binary, log: p.log };
  await writeServerRecord(state.dir, module, { k3s: proc });
  // The pid is `ip`'s, then the shell's, until both have exec'd K3s (milliseconds): only then
  // does it look like K3s to isRunning.
  const deadline = Date.now() + 10_000;
  while (!(await isRunning(pid, proc.bin)) && Date.now() < deadline) await sleep(20);
  return proc;
}

/** Until the server's API is ready; a config key K3s skipped fails the start (refusedFlags). */
async function awaitReady(state: BoxState, module: string, proc: ServerProcess): Promise<void> {
  const p = k3sPaths(state.dir, module);
  const address = k3sOf(state).network.members[module]!.address;
  await awaitProcessHealthy({
    name: `k3s server ${module}`,
    proc,
    log: p.log,
    token: await readToken(boxFiles(state.dir)),
    timeoutMs: K3S_START_TIMEOUT_MS,
    health: { url: `${apiUrl(address)}/readyz`, caFile: p.serverCa, auth: true },
  });
  const refused = refusedFlags(await readFile(p.log, 'utf8'));
  if (refused.length > 0) {
    throw failure(
      'local.k3s-flag-refused',
      `k3s ${state.k3s?.version} on ${module} skipped ${refused.join(', ')} of its config.yaml (unknown to this release)`,
      `pin a K3s release that knows them in spec.k3s.version and run it here (edgebox local setup --engine k3s), or fix render; see ${p.log}`,
    );
  }
}

export const k3sEngine: LocalEngine = {
  name: 'k3s',
  binaries: ['kwok'],
  // K3s runs its own kube-controller-manager and kube-scheduler, with the rendered tuning.
  components: ['kwok'],
  requireSetup: async () => {
    await requireK3s();
  },

  async prepare(state) {
    const binary = await requireK3s();
    const { box } = await loadSpec(state.spec);
    const serverCapable = box.spec.modules.filter((m) => m.roles.includes('server')).map((m) => m.name);
    state.k3s = { binary: binary.path, version: binary.version, network: k3sNetwork(state.dir, serverCapable) };
  },

  /**
   * The first server (`cluster-init` in its rendered config) alone, then the others joining it
   * one by one. The box's CA becomes K3s's server CA, so the kubeconfig and the proxy verify it.
   */
  async startServers(state, servers, progress) {
    const k3s = k3sOf(state);
    const { box } = await loadSpec(state.spec);
    await createNetwork(k3s.network);
    progress(
      `  network ${k3s.network.hostAddress}/${k3s.network.prefixLength} on ${k3s.network.bridge}: ${servers.map((m) => `${m} ${k3s.network.members[m]?.address}`).join(', ')}`,
    );
    const token = randomBytes(24).toString('hex');
    const rendered = (module: string) => {
      const m = box.spec.modules.find((x) => x.name === module);
      if (!m) throw new Error(`module '${module}' is not in box '${box.metadata.name}'`);
      return renderK3sConfig(box, m);
    };
    const order = initialServers(box)
      .map((m) => m.name)
      .filter((m) => servers.includes(m));
    const [first, ...rest] = order;
    if (!first) throw new Error(`box '${box.metadata.name}' has no server`);
    const firstUrl = apiUrl(k3s.network.members[first]!.address);
    const { ms } = await timed(progress, `starting k3s server ${first}`, async () => {
      const proc = await launchServer(state, first, { rendered: rendered(first), token });
      await awaitReady(state, first, proc);
    });
    progress(`  k3s server ${first} ready in ${seconds(ms)}`);
    await copyFile(k3sPaths(state.dir, first).serverCa, boxFiles(state.dir).caFile);
    // One at a time, each ready (its API answers, which needs its etcd member promoted from
    // learner) before the next: etcd takes one learner at a time, and two servers joining together
    // fail with "etcd cluster join failed" (k3s#12794, k3s#4335; seen here in CI).
    const joined = await timed(progress, `joining ${rest.length} k3s server(s), one at a time`, async () => {
      for (const m of rest) await awaitReady(state, m, await launchServer(state, m, { rendered: rendered(m), joinUrl: firstUrl, token }));
    });
    progress(`  k3s servers up: ${order.map((m) => `${m} (${k3s.network.members[m]!.address})`).join(', ')}; joined in ${seconds(joined.ms)}`);
  },

  apiBackends: (state) => Object.values(k3sOf(state).network.members).map((m) => `${m.address}:${K3S_API_PORT}`),
  // What K3s's agent labels a server's Node with; K3s's etcd metadata controller adds the etcd role and annotations.
  serverNodeLabels: () => ({ 'node-role.kubernetes.io/control-plane': 'true', 'node-role.kubernetes.io/master': 'true' }),

  async stopServers(state, graceMs) {
    if (!state.k3s) return [];
    const running: (ServerProcess & { module: string })[] = [];
    for (const module of Object.keys(state.k3s.network.members)) {
      const p = (await readServerRecord(state.dir, module)).k3s;
      if (p && (await isRunning(p.pid, p.bin))) running.push({ ...p, module });
    }
    await stopProcesses(running, graceMs);
    await removeNetwork(state.k3s.network);
    return running.map((p) => `k3s ${p.module}`);
  },
};
