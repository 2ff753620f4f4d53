import { randomBytes } from 'node:crypto';
import { appendFile, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { hostRunner, type CommandResult } from '../../agent/role/command-runner.js';
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
import {
  apiUrl,
  k3sNetwork,
  K3S_API_PORT,
  localJoinUrl,
  localOverrides,
  moduleCommand,
  onModule,
  refusedFlags,
  serverCommand,
  type ModuleRoots,
} from './k3s-plan.js';
import { failure } from '../../diagnostics/diagnostic.js';
import { requireK3s } from './k3s-setup.js';
import { packageRoot } from '../toolchain.js';
import { K3S_ETCD_PORT, MAY_START_FLAG } from '../../agent/role/k3s-plan.js';

/** A K3s server is ready in 10-20 s here (k3s-here.md); three share two cores while joining. */
const K3S_START_TIMEOUT_MS = 180_000;

/** Where a module's K3s keeps its state: its data dir, the upper layer of its /etc, its /run. */
export function k3sPaths(dir: string, module: string) {
  const base = join(moduleDir(dir, module), 'k3s');
  return {
    dataDir: join(base, 'data'),
    etcUpper: join(base, 'etc'),
    etcWork: join(base, 'etc-work'),
    run: join(base, 'run'),
    /** The module's two units as systemd would keep them (k3s-host.ts plays systemd). */
    units: join(base, 'units.json'),
    kubeconfig: join(base, 'kubeconfig.yaml'),
    serverCa: join(base, 'data', 'server', 'tls', 'server-ca.crt'),
    log: join(dir, 'logs', `k3s-${module}.log`),
  };
}

/** The module's /etc, K3s data dir and /run/edgebox as this machine holds them (onModule maps paths onto them). */
export function moduleRoots(dir: string, module: string): ModuleRoots {
  const p = k3sPaths(dir, module);
  return { etc: p.etcUpper, dataDir: p.dataDir, run: p.run };
}

function k3sOf(state: BoxState): NonNullable<BoxState['k3s']> {
  if (!state.k3s) throw new Error(`box '${state.box}' runs no K3s engine`);
  return state.k3s;
}

function memberOf(state: BoxState, module: string) {
  const member = k3sOf(state).network.members[module];
  if (!member) throw new Error(`module '${module}' has no namespace in box '${state.box}'`);
  return member;
}

/** The `k3s` (server) and `k3s-agent` units of a module, as `systemctl` would report them. */
export interface K3sUnits {
  server: { enabled: boolean };
  /** The module's KWOK node stands for what the agent unit runs. */
  agent: { enabled: boolean; active: boolean };
}

export async function readUnits(dir: string, module: string): Promise<K3sUnits> {
  try {
    return JSON.parse(await readFile(k3sPaths(dir, module).units, 'utf8')) as K3sUnits;
  } catch {
    return { server: { enabled: false }, agent: { enabled: true, active: true } };
  }
}

export async function writeUnits(dir: string, module: string, units: K3sUnits): Promise<void> {
  const file = k3sPaths(dir, module).units;
  await writeFile(`${file}.tmp`, `${JSON.stringify(units)}\n`);
  await rename(`${file}.tmp`, file);
}

/**
 * What the K3s install script and `edgebox render` put on every server-capable module: the
 * rendered config.yaml (a server's for an initial server, an agent's otherwise), the kubelet
 * config, the join token (0600) and both units; `server` says which one is enabled.
 */
async function installModule(state: BoxState, module: string, o: { rendered: string; token: string; server: boolean }): Promise<void> {
  const p = k3sPaths(state.dir, module);
  const etc = join(p.etcUpper, 'rancher', 'k3s');
  await mkdir(join(etc, 'config.yaml.d'), { recursive: true });
  await mkdir(p.etcWork, { recursive: true });
  await mkdir(p.run, { recursive: true, mode: 0o700 });
  await writeFile(join(etc, 'config.yaml'), o.rendered);
  await writeFile(join(etc, KUBELET_CONFIG_FILE), renderKubeletConfig());
  await writeFile(join(etc, 'edgebox-token'), `${o.token}\n`, { mode: 0o600 });
  await writeUnits(state.dir, module, { server: { enabled: o.server }, agent: { enabled: !o.server, active: !o.server } });
  // Render's k3s.service drop-in lets K3s start only with this flag; the install's first start has it.
  if (o.server) await writeFile(mayStartFlag(state.dir, module), 'written by edgebox local up: the first start\n');
}

/** The module's /run/edgebox/k3s-may-start (MAY_START_FLAG), which render's k3s.service drop-in makes a start condition. */
export const mayStartFlag = (dir: string, module: string): string => onModule(MAY_START_FLAG, moduleRoots(dir, module));

/** The modules whose K3s server runs now. */
export async function runningK3s(state: BoxState): Promise<string[]> {
  const out: string[] = [];
  for (const module of Object.keys(k3sOf(state).network.members)) {
    const p = (await readServerRecord(state.dir, module)).k3s;
    if (p && (await isRunning(p.pid, p.bin))) out.push(module);
  }
  return out;
}

/**
 * The local box's drop-in (k3s-plan.ts localOverrides), from the module's config.yaml as it is
 * now: whoever wrote it (render at install, the role driver since), its `server:` is made a
 * box-local one (localJoinUrl).
 */
async function writeDropIn(state: BoxState, module: string): Promise<void> {
  const p = k3sPaths(state.dir, module);
  const etc = join(p.etcUpper, 'rancher', 'k3s');
  const config = (parse(await readFile(join(etc, 'config.yaml'), 'utf8')) ?? {}) as { server?: unknown };
  const joinUrl = localJoinUrl({
    ...(typeof config.server === 'string' ? { configured: config.server } : {}),
    module,
    members: k3sOf(state).network.members,
    running: orderServers(state, await runningK3s(state)),
  });
  const overrides = localOverrides({
    address: memberOf(state, module).address,
    ...(joinUrl ? { joinUrl } : {}),
    dataDir: p.dataDir,
    kubeconfig: p.kubeconfig,
    tokenFile: boxFiles(state.dir).tokenFile,
  });
  await mkdir(join(etc, 'config.yaml.d'), { recursive: true });
  await writeFile(
    join(etc, 'config.yaml.d', '90-edgebox-local.yaml'),
    `# edgebox local box: what a test box changes (src/local/engine/k3s-plan.ts)\n${stringify(overrides)}`,
  );
}

/** Running servers in the order the box's members were made (the first initial server first). */
function orderServers(state: BoxState, running: readonly string[]): string[] {
  return Object.keys(k3sOf(state).network.members).filter((m) => running.includes(m));
}

/**
 * Starts the module's `k3s server` from its /etc layer (what `systemctl start k3s` does on a
 * module), in the module's namespaces, and records it.
 */
export async function startK3s(state: BoxState, module: string): Promise<ServerProcess> {
  const k3s = k3sOf(state);
  const p = k3sPaths(state.dir, module);
  const member = memberOf(state, module);
  await writeDropIn(state, module);
  await mkdir(dirname(p.log), { recursive: true });
  const logFrom = await stat(p.log).then(
    (s) => s.size,
    () => 0,
  );
  // The built forwarder, also when the caller runs from sources (the integration tests).
  const forward = join(packageRoot(), 'dist', 'local', 'engine', 'etcd-forward-process.js');
  const cmd = serverCommand({
    netns: member.netns,
    etcUpper: p.etcUpper,
    etcWork: p.etcWork,
    bin: k3s.binary,
    module,
    beside: [process.execPath, forward, member.address, String(K3S_ETCD_PORT)],
  });
  const pid = spawnDetached({ bin: cmd.bin, args: cmd.args, log: p.log, cwd: state.dir, env: { ...process.env, ...cmd.env } });
  const proc: ServerProcess = { pid, bin: k3s.binary, log: p.log, logFrom };
  await writeServerRecord(state.dir, module, { k3s: proc });
  // The pid is `ip`'s, then the shell's, until both have exec'd K3s (milliseconds): only then
  // does it look like K3s to isRunning.
  const deadline = Date.now() + 10_000;
  while (!(await isRunning(pid, proc.bin)) && Date.now() < deadline) await sleep(20);
  return proc;
}

/** Stops the module's `k3s server` (SIGTERM, then SIGKILL after `graceMs`); false if none ran. */
export async function stopK3s(state: BoxState, module: string, graceMs = 10_000): Promise<boolean> {
  const p = (await readServerRecord(state.dir, module)).k3s;
  if (!p || !(await isRunning(p.pid, p.bin))) return false;
  await stopProcesses([p], graceMs);
  return true;
}

/**
 * A `k3s` command run to its end in the module's namespaces (`k3s etcd-snapshot save`, `k3s server
 * --cluster-reset`), its output appended to the module's K3s log; never throws.
 */
export async function runK3s(state: BoxState, module: string, argv: readonly string[], timeoutMs: number): Promise<CommandResult> {
  const k3s = k3sOf(state);
  const p = k3sPaths(state.dir, module);
  const member = memberOf(state, module);
  if (argv[0] === 'server') await writeDropIn(state, module);
  const cmd = moduleCommand({ netns: member.netns, etcUpper: p.etcUpper, etcWork: p.etcWork, bin: k3s.binary, module }, argv);
  const r = await hostRunner({ env: cmd.env }).run([cmd.bin, ...cmd.args], { timeoutMs });
  await appendFile(p.log, `--- k3s ${argv.join(' ')}\n${r.stdout}${r.stderr}`);
  return r;
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
    // Every server-capable module gets what an install puts there; the others can be promoted.
    for (const m of Object.keys(k3s.network.members)) await installModule(state, m, { rendered: rendered(m), token, server: order.includes(m) });
    const { ms } = await timed(progress, `starting k3s server ${first}`, async () => {
      await awaitReady(state, first, await startK3s(state, first));
    });
    progress(`  k3s server ${first} ready in ${seconds(ms)}`);
    await copyFile(k3sPaths(state.dir, first).serverCa, boxFiles(state.dir).caFile);
    // One at a time, each ready (its API answers, which needs its etcd member promoted from
    // learner) before the next: etcd takes one learner at a time, and two servers joining together
    // fail with "etcd cluster join failed" (k3s#12794, k3s#4335; seen here in CI).
    const joined = await timed(progress, `joining ${rest.length} k3s server(s), one at a time`, async () => {
      for (const m of rest) await awaitReady(state, m, await startK3s(state, m));
    });
    progress(`  k3s servers up: ${order.map((m) => `${m} (${k3s.network.members[m]!.address})`).join(', ')}; joined in ${seconds(joined.ms)}`);
  },

  roleDriver: 'k3s',
  /**
   * A boot empties /run, so the flag render's k3s.service drop-in asks for is gone and systemd does
   * not start K3s, enabled or not: the agent starts it once the live cluster still lists the module.
   */
  async boot(state, module) {
    if (!(module in k3sOf(state).network.members)) return;
    const run = k3sPaths(state.dir, module).run;
    await rm(run, { recursive: true, force: true });
    await mkdir(run, { recursive: true, mode: 0o700 });
  },

  apiBackends: (state) => Object.values(k3sOf(state).network.members).map((m) => `${m.address}:${K3S_API_PORT}`),
  // What K3s's agent labels a server's Node with; K3s's etcd metadata controller adds the etcd role and annotations.
  serverNodeLabels: () => ({ 'node-role.kubernetes.io/control-plane': 'true', 'node-role.kubernetes.io/master': 'true' }),

  async stopServers(state, graceMs) {
    if (!state.k3s) return [];
    const running = await runningK3s(state);
    await Promise.all(running.map((m) => stopK3s(state, m, graceMs)));
    await removeNetwork(state.k3s.network);
    return running.map((m) => `k3s ${m}`);
  },
};
