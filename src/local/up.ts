import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { LABELS } from '../contract/labels.js';
import { loadSpec } from '../spec/load.js';
import type { BoxSpec } from '../spec/schema.js';
import { defaultBoxDir } from './box-dir.js';
import { readState, removeState, writeState, type BoxState, type ComponentState, type ControlPlaneMode } from './box-state.js';
import { binaryPath, toolchainPaths, type ToolchainPaths } from './cache.js';
import { componentCommands } from './components.js';
import { boxFiles, writeCredentials, writeKubeconfig, type BoxFiles } from './credentials.js';
import { down } from './down.js';
import { coreApi, isNotFound, readyStatus } from '../kube/client.js';
import { boxStages, DEFAULT_POD_START, stagesFile, type PodStart } from './kwok-stages.js';
import { freePorts, freeTcpPortsOn, LOOPBACK } from './ports.js';
import { awaitHealthy, awaitProcessHealthy, launch, processFailed, START_TIMEOUT_MS } from './launch.js';
import { isRunning, sleep, spawnDetached } from './processes.js';
import { seconds, silent, timed, type Progress } from './progress.js';
import { apiSocketFile, edgeboxCli, ensureAgents, ensureControllers } from './self-healing.js';
import { localAddresses, simulatedNodes } from './simulated-nodes.js';
import { componentStatuses } from './status.js';
import { loadToolchain, type BinarySpec } from './toolchain.js';
import { timingsFor, type TimingsName } from './timings.js';
import { writeBoxCa } from './box-ca.js';
import type { ApiProxyOptions } from './api-proxy.js';
import { HOST_MEMBER } from './server-layout.js';
import { initialServers } from '../plan/control-plane.js';
import { engineFor, engineOf } from './engine/engines.js';
import type { EngineName, LocalEngine } from './engine/engine.js';

export interface UpOptions {
  /** Box directory. Default: `<cache>/boxes/<box name>`. */
  dir?: string;
  /** Failover timings of the control plane. Default: 'default' (Kubernetes' own). */
  timings?: TimingsName;
  /** Also run one `edgebox agent run` per module, on its 127.0.1.N. Default: false. */
  withAgents?: boolean;
  /** UDP heartbeat port of the agents. Default: the spec's `failover.port`. */
  agentPort?: number;
  /** Also run `edgebox controller`. Default: false. */
  withController?: boolean;
  /** How many controllers, with `withController` (two or more to exercise leader failover). Default: 1. */
  controllers?: number;
  /**
   * `spec`: `controlPlane.servers` etcd + kube-apiserver pairs, on the initial servers' addresses.
   * `single`: one pair on 127.0.0.1, no module's (`kill` never stops it), for tests and
   * benchmarks whose subject is not the control plane. Default: 'spec'.
   */
  controlPlane?: ControlPlaneMode;
  /** How long KWOK takes to start a pod. Default: DEFAULT_POD_START (1-3 s, as on an SoC module). */
  podStart?: PodStart;
  /** What runs the control plane (src/local/engine). Default: 'process'. */
  engine?: EngineName;
  /** Agents run with a wall clock of their own, to be stepped (module-clock.ts; needs libfaketime). Default: false. */
  clockFaults?: boolean;
  progress?: Progress;
}

export interface UpResult {
  state: BoxState;
  kubeconfig: string;
  /** The box was already running; nothing was started. */
  alreadyRunning: boolean;
  /** Agents and controllers this call started (`agent <module>`, `controller-<n>`). */
  started: string[];
  ms: number;
}

/** What `up` creates in the box dir and removes before a fresh start (logs of a crash stay until then). */
const FRESH_START_PATHS = ['modules', 'pki', 'kwok-home', 'logs', 'kubeconfig', 'kwok.yaml', 'box-secret', 'address-map.json', 'peripherals'];

/**
 * Starts a local box: an etcd member and a kube-apiserver on the address of each initial server
 * (src/plan/control-plane.ts), the box's API address (a proxy on 127.0.0.1 that forwards to a
 * serving API server), kube-controller-manager, kube-scheduler and kwok on 127.0.0.1 through it,
 * then one node per module, and returns once every node is Ready and pods can be
 * created; then, if asked, the agents and the controllers. Idempotent: what already runs is left
 * alone, and only missing agents and controllers are started on a running box. If anything fails
 * to start on a fresh box, everything is stopped again and the error names the log to read.
 */
export async function up(specPath: string, opts: UpOptions = {}): Promise<UpResult> {
  const start = Date.now();
  const progress = opts.progress ?? silent;
  const { box } = await loadSpec(specPath);
  const dir = opts.dir ? resolve(opts.dir) : defaultBoxDir(box.metadata.name);
  const engine = engineFor(opts.engine);
  if (engine.name === 'k3s' && opts.controlPlane === 'single') {
    // The K3s engine's servers are the spec's server modules, each a `k3s server` of its own.
    throw inputError(
      'local.k3s-engine-unsupported',
      "the K3s engine runs the spec's server modules as K3s servers: there is no --control-plane single on it",
      'drop --control-plane single, or use the default engine (--engine process)',
    );
  }
  const core = await startCore(
    specPath,
    box,
    dir,
    {
      timings: opts.timings ?? 'default',
      controlPlane: opts.controlPlane ?? 'spec',
      podStart: opts.podStart ?? DEFAULT_POD_START,
      clockFaults: opts.clockFaults === true,
      engine,
    },
    progress,
  );
  const started: string[] = [];
  try {
    if (opts.withAgents) started.push(...(await ensureAgents(dir, { progress, ...(opts.agentPort ? { port: opts.agentPort } : {}) })));
    if (opts.withController) started.push(...(await ensureControllers(dir, opts.controllers ?? 1, progress)));
  } catch (e) {
    if (!core.alreadyRunning) {
      progress('start failed: stopping what was started');
      await down(dir);
    }
    throw e;
  }
  const state = (await readState(dir))!;
  const ms = Date.now() - start;
  if (!core.alreadyRunning) progress(`box '${box.metadata.name}' is up in ${seconds(ms)}`);
  return { state, kubeconfig: boxFiles(dir).kubeconfig, alreadyRunning: core.alreadyRunning && started.length === 0, started, ms };
}

async function startCore(
  specPath: string,
  box: BoxSpec,
  dir: string,
  o: { timings: TimingsName; controlPlane: ControlPlaneMode; podStart: PodStart; clockFaults: boolean; engine: LocalEngine },
  progress: Progress,
): Promise<{ alreadyRunning: boolean }> {
  const timingsName = o.timings;
  const files = boxFiles(dir);
  const existing = await readState(dir);
  if (existing) {
    const statuses = await componentStatuses(existing);
    const running = statuses.filter((s) => s.phase === 'running');
    if (existing.box !== box.metadata.name && running.length > 0) {
      throw failure(
        'local.dir-in-use',
        `${dir} holds the running box '${existing.box}', not '${box.metadata.name}'`,
        `stop it with \`edgebox local down --dir ${dir}\`, or pass another --dir`,
      );
    }
    if (running.length === statuses.length) return { alreadyRunning: true };
    if (running.length > 0) {
      const crashed = statuses.filter((s) => s.phase !== 'running');
      throw failure(
        'local.box-degraded',
        `box '${existing.box}' in ${dir} is partly running: ${crashed.map((c) => `${c.name} ${c.phase}${c.log ? ` (log: ${c.log})` : ''}`).join(', ')}`,
        `run \`edgebox local down --dir ${dir}\`, then \`edgebox local up\` again`,
      );
    }
    // Nothing of it runs (a reboot, a killed terminal): start afresh below.
    await removeState(dir);
  }

  const toolchain = await loadToolchain();
  const paths = toolchainPaths(toolchain);
  await requireSetup(paths, o.engine.binaries);
  await o.engine.requireSetup();

  for (const p of FRESH_START_PATHS) await rm(join(dir, p), { recursive: true, force: true });
  for (const d of [dir, join(dir, 'logs'), join(dir, 'pki'), files.kwokHome]) await mkdir(d, { recursive: true });
  const addresses = localAddresses(box);
  const servers = o.controlPlane === 'single' ? [HOST_MEMBER] : initialServers(box).map((m) => m.name);
  const token = await writeCredentials(files);
  await writeBoxCa(dir, box.metadata.name, Object.values(addresses));
  await writeFile(files.kwokConfig, await boxStages(paths, o.podStart));
  const [apiserver, controllerManager, scheduler] = await freePorts(3);
  const [etcdClient, etcdPeer, serverApi] = await freeTcpPortsOn([...Object.values(addresses), LOOPBACK], 3);
  const state: BoxState = {
    version: 2,
    box: box.metadata.name,
    spec: resolve(specPath),
    dir,
    timings: timingsName,
    startedAt: new Date().toISOString(),
    binDir: paths.bin,
    addresses,
    controlPlane: { mode: o.controlPlane, initialServers: servers },
    ports: {
      apiserver: apiserver!,
      controllerManager: controllerManager!,
      scheduler: scheduler!,
      server: { etcdClient: etcdClient!, etcdPeer: etcdPeer!, apiserver: serverApi! },
    },
    components: [],
    ...(o.engine.name === 'process' ? {} : { engine: o.engine.name }),
    podStart: o.podStart,
    ...(o.clockFaults ? { clockFaults: true } : {}),
    killed: [],
  };
  try {
    await o.engine.prepare(state);
  } finally {
    await writeState(state);
  }
  progress(`starting box '${box.metadata.name}' in ${dir} (engine: ${o.engine.name}; timings: ${timingsName}; servers: ${servers.join(', ')})`);

  try {
    await o.engine.startServers(state, servers, progress);
    await startApiProxy(state, token, progress);
    await writeKubeconfig(files, files.kubeconfig, { box: box.metadata.name, server: `https://${LOOPBACK}:${state.ports.apiserver}`, token });
    const commands = componentCommands({ files, ports: state.ports, timings: timingsFor(timingsName), dir }).filter((c) =>
      o.engine.components.includes(c.name),
    );
    for (const cmd of commands) {
      const c = launch(cmd, dir, binaryPath(paths, cmd.name));
      // Recorded before the wait, so a component that hangs is stopped with the rest.
      state.components.push(c);
      await writeState(state);
      await awaitHealthy(cmd, c, token, progress);
    }
    const serverLabels = o.engine.serverNodeLabels();
    const nodes = simulatedNodes(box).map((n) =>
      servers.includes(n.metadata!.name!) ? { ...n, metadata: { ...n.metadata, labels: { ...n.metadata!.labels, ...serverLabels } } } : n,
    );
    await createNodes(files, box.metadata.name, nodes, state, progress);
    await startBoxProcess(state, 'storage');
    await startBoxProcess(state, 'supervisor');
  } catch (e) {
    progress('start failed: stopping what was started');
    await down(dir);
    throw e;
  }
  return { alreadyRunning: false };
}

/** The box's API address (api-proxy.ts), forwarding to the API server port of every module address. */
async function startApiProxy(state: BoxState, token: string, progress: Progress): Promise<void> {
  const cli = await edgeboxCli();
  const files = boxFiles(state.dir);
  const log = join(state.dir, 'logs', 'api-proxy.log');
  const script = join(dirname(cli.script), '..', 'dist', 'local', 'api-proxy-process.js');
  const opts: ApiProxyOptions = {
    host: LOOPBACK,
    port: state.ports.apiserver,
    backends: engineOf(state).apiBackends(state),
    caFile: files.caFile,
    tokenFile: files.tokenFile,
    socketPath: apiSocketFile(state.dir),
  };
  const args = [script, JSON.stringify(opts)];
  const pid = spawnDetached({ bin: cli.bin, args, log, cwd: state.dir });
  const proxy: ComponentState = { name: 'api-proxy', pid, log, bin: cli.bin, script };
  state.components.push(proxy);
  await writeState(state);
  await awaitProcessHealthy({
    name: 'api-proxy',
    proc: proxy,
    log,
    token,
    timeoutMs: 30_000,
    health: { url: `https://${LOOPBACK}:${state.ports.apiserver}/readyz`, caFile: files.caFile, auth: true },
  });
  progress(`  API address https://${LOOPBACK}:${state.ports.apiserver} (pid ${pid})`);
}

/**
 * A box-level process of ours, run by Node with the box dir as its argument: the simulated
 * storage (storage-process.ts: claims, attachments and the kubelet's volume side) and, last, so
 * that `down` (reverse order) stops it before what it would start again, the supervisor.
 */
async function startBoxProcess(state: BoxState, name: 'storage' | 'supervisor'): Promise<void> {
  const cli = await edgeboxCli();
  const log = join(state.dir, 'logs', `${name}.log`);
  const script = join(dirname(cli.script), '..', 'dist', 'local', `${name}-process.js`);
  const pid = spawnDetached({ bin: cli.bin, args: [script, state.dir], log, cwd: state.dir });
  const proc: ComponentState = { name, pid, log, bin: cli.bin, script };
  state.components.push(proc);
  await writeState(state);
  await awaitProcessHealthy({ name, proc, log, timeoutMs: 10_000 });
}

async function requireSetup(paths: ToolchainPaths, names: readonly BinarySpec['name'][]): Promise<void> {
  const missing: string[] = [];
  for (const n of names)
    if (
      !(await access(binaryPath(paths, n)).then(
        () => true,
        () => false,
      ))
    )
      missing.push(n);
  if (
    !(await access(stagesFile(paths)).then(
      () => true,
      () => false,
    ))
  )
    missing.push('kwok stages');
  if (missing.length > 0) {
    throw failure(
      'local.not-set-up',
      `the local control plane is not built: ${missing.join(', ')} missing in ${paths.root}`,
      'run `edgebox local setup` (it builds them from Go modules; several minutes the first time)',
    );
  }
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
      if (!(await isRunning(kwok.pid, kwok.bin))) throw await processFailed(kwok, 'exited');
      const list = await core.listNode({ labelSelector: `${LABELS.box}=${boxName}` });
      const notReady = list.items.filter((n) => readyStatus(n) !== 'True').map((n) => n.metadata?.name);
      const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }).then(
        () => true,
        (e) => {
          if (isNotFound(e)) return false;
          throw e;
        },
      );
      if (notReady.length === 0 && sa) return;
      if (Date.now() > deadline) {
        throw await processFailed(
          kwok,
          `did not make every node Ready (still not Ready: ${notReady.join(', ') || 'none'}; default ServiceAccount ${sa ? 'exists' : 'missing: see the kube-controller-manager log'})`,
        );
      }
      await sleep(250);
    }
  });
  progress(`  all ${nodes.length} nodes Ready (${seconds(ms)})`);
}
