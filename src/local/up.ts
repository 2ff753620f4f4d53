import { access, copyFile, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EdgeboxError, failure } from '../diagnostics/diagnostic.js';
import { LABELS } from '../spec/labels.js';
import { loadSpec } from '../spec/load.js';
import { defaultBoxDir } from './box-dir.js';
import { readState, removeState, writeState, type BoxState, type ComponentState } from './box-state.js';
import { binaryPath, toolchainPaths, type ToolchainPaths } from './cache.js';
import { componentCommands, timingsFor, type ComponentCommand, type TimingsName } from './components.js';
import { boxFiles, writeCredentials, writeKubeconfig, type BoxFiles } from './credentials.js';
import { healthy } from './health.js';
import { coreApi, isNotFound, readyStatus } from './kube-client.js';
import { stagesFile } from './kwok-stages.js';
import { freePorts, LOOPBACK } from './ports.js';
import { isRunning, sleep, spawnDetached, stopProcesses } from './processes.js';
import { seconds, silent, timed, type Progress } from './progress.js';
import { simulatedNodes } from './simulated-nodes.js';
import { componentStatuses, logTail } from './status.js';
import { loadToolchain, type Component } from './toolchain.js';

export interface UpOptions {
  /** Box directory. Default: `<cache>/boxes/<box name>`. */
  dir?: string;
  /** Failover timings of the control plane. Default: 'default' (Kubernetes' own). */
  timings?: TimingsName;
  progress?: Progress;
}

export interface UpResult {
  state: BoxState;
  kubeconfig: string;
  /** The box was already running; nothing was started. */
  alreadyRunning: boolean;
  ms: number;
}

/** How long each component may take to answer its health check, on a busy 2-core machine. */
const START_TIMEOUT_MS: Record<Component, number> = {
  etcd: 60_000,
  'kube-apiserver': 180_000,
  'kube-controller-manager': 90_000,
  'kube-scheduler': 90_000,
  kwok: 90_000,
};

/** What `up` creates in the box dir and removes before a fresh start (logs of a crash stay until then). */
const FRESH_START_PATHS = ['etcd', 'pki', 'kwok-home', 'logs', 'kubeconfig', 'kwok.yaml'];

/**
 * Starts a local box: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on
 * 127.0.0.1, then one node per module, and returns once every node is Ready and pods can be
 * created. Idempotent: a box already running is left alone. If any component fails to start,
 * everything started so far is stopped and the error names the component's log.
 */
export async function up(specPath: string, opts: UpOptions = {}): Promise<UpResult> {
  const start = Date.now();
  const progress = opts.progress ?? silent;
  const timingsName = opts.timings ?? 'default';
  const { box } = await loadSpec(specPath);
  const dir = opts.dir ? resolve(opts.dir) : defaultBoxDir(box.metadata.name);
  const files = boxFiles(dir);

  const existing = await readState(dir);
  if (existing) {
    const statuses = await componentStatuses(existing);
    const running = statuses.filter((s) => s.phase === 'running');
    if (existing.box !== box.metadata.name && running.length > 0) {
      throw failure('local.dir-in-use', `${dir} holds the running box '${existing.box}', not '${box.metadata.name}'`,
        `stop it with \`edgebox local down --dir ${dir}\`, or pass another --dir`);
    }
    if (running.length === statuses.length) {
      return { state: existing, kubeconfig: files.kubeconfig, alreadyRunning: true, ms: Date.now() - start };
    }
    if (running.length > 0) {
      const crashed = statuses.filter((s) => s.phase !== 'running');
      throw failure('local.box-degraded',
        `box '${existing.box}' in ${dir} is partly running: ${crashed.map((c) => `${c.name} ${c.phase}${c.log ? ` (log: ${c.log})` : ''}`).join(', ')}`,
        `run \`edgebox local down --dir ${dir}\`, then \`edgebox local up\` again`);
    }
    // Nothing of it runs (a reboot, a killed terminal): start afresh below.
    await removeState(dir);
  }

  const toolchain = await loadToolchain();
  const paths = toolchainPaths(toolchain);
  await requireSetup(paths, toolchain.binaries.map((b) => b.name));

  for (const p of FRESH_START_PATHS) await rm(join(dir, p), { recursive: true, force: true });
  for (const d of [dir, join(dir, 'logs'), files.certDir, files.kwokHome]) await mkdir(d, { recursive: true });
  const token = await writeCredentials(files);
  await copyFile(stagesFile(paths), files.kwokConfig);
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler] = await freePorts(5);
  const state: BoxState = {
    version: 1,
    box: box.metadata.name,
    spec: resolve(specPath),
    dir,
    timings: timingsName,
    startedAt: new Date().toISOString(),
    ports: { etcdClient: etcdClient!, etcdPeer: etcdPeer!, apiserver: apiserver!, controllerManager: controllerManager!, scheduler: scheduler! },
    components: [],
    killed: [],
  };
  await writeState(state);
  progress(`starting box '${box.metadata.name}' in ${dir} (timings: ${timingsName})`);

  try {
    const commands = componentCommands({ files, ports: state.ports, timings: timingsFor(timingsName), dir });
    for (const cmd of commands) {
      const c = launch(cmd, dir, binaryPath(paths, cmd.name));
      // Recorded before the wait, so a component that hangs is stopped with the rest.
      state.components.push(c);
      await writeState(state);
      await awaitHealthy(cmd, c, token, progress);
      // Everything after the API server talks to it through the kubeconfig, which needs the
      // certificate the API server generated on start.
      if (cmd.name === 'kube-apiserver') {
        await writeKubeconfig(files, { box: box.metadata.name, server: `https://${LOOPBACK}:${state.ports.apiserver}`, token });
      }
    }
    await createNodes(files, box.metadata.name, simulatedNodes(box), state, progress);
  } catch (e) {
    progress('start failed: stopping what was started');
    await stopProcesses(state.components);
    await removeState(dir);
    throw e;
  }
  const ms = Date.now() - start;
  progress(`box '${box.metadata.name}' is up in ${seconds(ms)}`);
  return { state, kubeconfig: files.kubeconfig, alreadyRunning: false, ms };
}

async function requireSetup(paths: ToolchainPaths, names: Component[]): Promise<void> {
  const missing: string[] = [];
  for (const n of names) if (!(await access(binaryPath(paths, n)).then(() => true, () => false))) missing.push(n);
  if (!(await access(stagesFile(paths)).then(() => true, () => false))) missing.push('kwok stages');
  if (missing.length > 0) {
    throw failure('local.not-set-up', `the local control plane is not built: ${missing.join(', ')} missing in ${paths.root}`,
      'run `edgebox local setup` (it builds them from Go modules; several minutes the first time)');
  }
}

function launch(cmd: ComponentCommand, dir: string, bin: string): ComponentState {
  const log = join(dir, 'logs', `${cmd.name}.log`);
  const pid = spawnDetached({ bin, args: cmd.args, log, cwd: dir, ...(cmd.env ? { env: cmd.env } : {}) });
  return { name: cmd.name, pid, bin, log };
}

async function awaitHealthy(cmd: ComponentCommand, c: ComponentState, token: string, progress: Progress): Promise<void> {
  const { ms } = await timed(progress, `waiting for ${cmd.name}`, async () => {
    const deadline = Date.now() + START_TIMEOUT_MS[cmd.name];
    for (;;) {
      if (!(await isRunning(c.pid, c.bin))) throw await componentFailed(c, 'exited during start-up');
      if (!cmd.health || (await healthy(cmd.health, token))) return;
      if (Date.now() > deadline) throw await componentFailed(c, `did not become healthy within ${seconds(START_TIMEOUT_MS[cmd.name])} (${cmd.health.url})`);
      await sleep(250);
    }
  });
  progress(`  ${cmd.name} started (pid ${c.pid}, ${seconds(ms)})`);
}

async function componentFailed(c: ComponentState, why: string): Promise<EdgeboxError> {
  return failure('local.component-failed', `${c.name} ${why}; last lines of ${c.log}:\n${await logTail(c.log)}`,
    `read ${c.log}; a port taken by another process or a stale binary are the usual causes (re-run \`edgebox local setup\`)`);
}

/**
 * Creates one node per module and waits until KWOK has made every one Ready and the service
 * account controller has made the `default` ServiceAccount (without it pods cannot be created).
 */
async function createNodes(files: BoxFiles, boxName: string, nodes: ReturnType<typeof simulatedNodes>, state: BoxState, progress: Progress): Promise<void> {
  const core = coreApi(files.kubeconfig);
  for (const body of nodes) await core.createNode({ body, fieldManager: 'edgebox-local' });
  progress(`  created ${nodes.length} nodes: ${nodes.map((n) => n.metadata?.name).join(', ')}`);
  const kwok = state.components.find((c) => c.name === 'kwok')!;
  const { ms } = await timed(progress, 'waiting for the nodes to become Ready', async () => {
    const deadline = Date.now() + START_TIMEOUT_MS.kwok;
    for (;;) {
      if (!(await isRunning(kwok.pid, kwok.bin))) throw await componentFailed(kwok, 'exited');
      const list = await core.listNode({ labelSelector: `${LABELS.box}=${boxName}` });
      const notReady = list.items.filter((n) => readyStatus(n) !== 'True').map((n) => n.metadata?.name);
      const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(() => true, (e) => {
        if (isNotFound(e)) return false;
        throw e;
      });
      if (notReady.length === 0 && sa) return;
      if (Date.now() > deadline) {
        throw await componentFailed(kwok, `did not make every node Ready (still not Ready: ${notReady.join(', ') || 'none'}; default ServiceAccount ${sa ? 'exists' : 'missing: see the kube-controller-manager log'})`);
      }
      await sleep(250);
    }
  });
  progress(`  all ${nodes.length} nodes Ready (${seconds(ms)})`);
}
