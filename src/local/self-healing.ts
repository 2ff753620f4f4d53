import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecretFile } from '../agent/heartbeat/secret.js';
import { failure } from '../diagnostics/diagnostic.js';
import { loadSpec } from '../spec/load.js';
import type { BoxSpec } from '../spec/schema.js';
import { readState, updateState, type AgentState, type BoxState, type CliProcessState, type ControllerState } from './box-state.js';
import { agentKubeconfigFile, ensureAgentIdentities, writeAgentKubeconfigs } from './agent-identity.js';
import { boxFiles } from './credentials.js';
import { coreApi } from '../kube/client.js';
import { awaitProcessHealthy } from './launch.js';
import { freePorts, freeTcpPortsOn, LOOPBACK } from './ports.js';
import { isRunning, killProcesses, spawnDetached, stopProcesses } from './processes.js';
import { joinModuleCgroup } from './module-cgroup.js';
import { clockEnv } from './module-clock.js';
import { seconds, timed, type Progress } from './progress.js';
import { localAddresses } from './simulated-nodes.js';
import { packageRoot } from './toolchain.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { controllerEnv } from '../contract/controller-process.js';
import { engineOf } from './engine/engines.js';

/**
 * The self-healing processes of a local box (docs/decisions/0001-self-healing.md): one
 * `edgebox agent run` per module, bound to the module's loopback address, and one or more
 * `edgebox controller`. Like the control-plane components they are detached children recorded in
 * the box state, so `down`, `status`, `kill` and `revive` from other invocations find them.
 */

/** Where agents publish their views and the controller holds its leader Lease. */

/** Node startup plus the first Lease write, several at once on a busy 2-core machine. */
const START_TIMEOUT_MS = 60_000;

/** The box secret every agent signs its heartbeats with (`/etc/edgebox/box-secret` on a real box). */
export function boxSecretFile(dir: string): string {
  return join(dir, 'box-secret');
}

/** Module -> 127.0.1.N, passed to every agent: the spec's addresses are the real box's. */
export function addressMapFile(dir: string): string {
  return join(dir, 'address-map.json');
}

/** The box API address's Unix socket: the host's own way to the API, which no network fault cuts. */
export function apiSocketFile(dir: string): string {
  return join(dir, 'api.sock');
}

/**
 * Where a module's agent records the singletons it stops when it fences itself: KWOK runs no
 * containers, so the `local` runtime driver writes what it would stop (src/agent/self-fence).
 */
export function runtimeFile(dir: string, module: string): string {
  return join(dir, 'modules', module, 'runtime.jsonl');
}

export interface AgentArgs {
  spec: string;
  module: string;
  secretFile: string;
  kubeconfig: string;
  address: string;
  port: number;
  httpPort: number;
  addressMap: string;
  runtimeFile: string;
  /** The API address's Unix socket the simulated runtime lists pods over (api-proxy.ts). */
  runtimeApiSocket: string;
  /**
   * The box dir: the agent's role driver runs the module's control plane from it (`process`: its
   * etcd member and API server; `k3s`: its `k3s server`, src/local/engine/k3s-host.ts). None in a
   * `single` box, whose control plane is no module's: no role loop.
   */
  localDir?: string;
  /** The engine's role driver (src/local/engine). Default: process. */
  roleDriver?: 'process' | 'k3s';
}

/** The `edgebox` arguments of one module's agent. Pure: `up`, `revive` and the unit tests share it. */
export function agentArgs(a: AgentArgs): string[] {
  return [
    'agent',
    'run',
    '--spec',
    a.spec,
    '--module',
    a.module,
    '--secret-file',
    a.secretFile,
    '--kubeconfig',
    a.kubeconfig,
    '--address',
    a.address,
    '--port',
    String(a.port),
    '--http-port',
    String(a.httpPort),
    // A local box is scraped by nobody: any free port, so no fixed one can be taken.
    '--metrics-port',
    '0',
    '--address-map',
    a.addressMap,
    '--runtime',
    'local',
    '--runtime-file',
    a.runtimeFile,
    '--runtime-api-socket',
    a.runtimeApiSocket,
    ...(a.localDir ? ['--role-driver', a.roleDriver ?? 'process', '--local-dir', a.localDir] : []),
  ];
}

export interface ControllerArgs {
  spec: string;
  kubeconfig: string;
  id: string;
  metricsPort: number;
  /** The box dir: the `local` power driver stops a module's processes through it. */
  dir: string;
}

export function controllerArgs(c: ControllerArgs): string[] {
  return ['controller', '--spec', c.spec, '--kubeconfig', c.kubeconfig, '--id', c.id, '--metrics-port', String(c.metricsPort), '--local-dir', c.dir];
}

/** Identities `controller-1` .. `controller-<count>`. */
export function controllerIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `controller-${i + 1}`);
}

/**
 * Node and the CLI script of this package. Agents and controllers run the built CLI (`dist/`),
 * also when the caller runs from sources (the integration tests), so it must have been built.
 */
export async function edgeboxCli(): Promise<{ bin: string; script: string }> {
  const root = packageRoot();
  const main = join(root, 'dist', 'cli', 'main.js');
  if (
    !(await access(main).then(
      () => true,
      () => false,
    ))
  ) {
    throw failure('local.cli-not-built', `agents and controllers run the built edgebox CLI, and ${main} is missing`, `run \`npm run build\` in ${root}`);
  }
  return { bin: process.execPath, script: join(root, 'bin', 'edgebox.js') };
}

async function requireState(dir: string): Promise<BoxState> {
  const state = await readState(dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  return state;
}

const running = (p: CliProcessState | undefined) => (p ? isRunning(p.pid, p.bin, p.script) : Promise.resolve(false));

export interface EnsureAgentsOptions {
  /** UDP heartbeat port of every agent. Default: spec.failover.port (the box's recorded port once agents ran). */
  port?: number;
  progress: Progress;
}

/**
 * Starts the agent of every module that is not killed and has none running; returns what it
 * started. Creates the box secret (kept if it exists: agents restarted later must share it) and
 * the address map first. Each agent is recorded before it is waited for, so one that hangs is
 * stopped by `down`; if one fails, the agents started here are stopped again.
 */
export async function ensureAgents(dir: string, opts: EnsureAgentsOptions): Promise<string[]> {
  const cli = await edgeboxCli();
  const state = await requireState(dir);
  const { box } = await loadSpec(state.spec);
  await createSecretFile(boxSecretFile(dir));
  await writeFile(addressMapFile(dir), `${JSON.stringify(localAddresses(box), null, 2)}\n`);
  await ensureSystemNamespace(dir);
  // Each agent as its module's own ServiceAccount, checked by the rendered RBAC and admission policy.
  await ensureAgentIdentities(
    dir,
    box,
    box.spec.modules.map((m) => m.name),
  );
  const port = state.agents?.[0]?.port ?? opts.port ?? box.spec.failover.port;
  const wanted: string[] = [];
  for (const m of box.spec.modules) {
    if (state.killed.includes(m.name)) continue;
    if (!(await running(state.agents?.find((a) => a.module === m.name)))) wanted.push(m.name);
  }
  if (wanted.length === 0) return [];
  const started = await spawnAgents(dir, state, box, wanted, port, cli);
  await updateState(dir, (s) => {
    s.agents = box.spec.modules
      .map((m) => started.find((a) => a.module === m.name) ?? s.agents?.find((a) => a.module === m.name))
      .filter((a): a is AgentState => a !== undefined);
  });
  const { ms } = await timed(opts.progress, `waiting for ${started.length} agents`, async () => {
    try {
      await Promise.all(started.map(awaitAgent));
    } catch (e) {
      await stopProcesses(started, 2000);
      throw e;
    }
  });
  opts.progress(`  agents started: ${started.map((a) => `${a.module} (${a.address}, pid ${a.pid})`).join(', ')} in ${seconds(ms)}`);
  return started.map((a) => `agent ${a.module}`);
}

/** `revive`: the module's agent starts again, as on a module that boots (no-op in a box without agents). */
export async function restartAgent(dir: string, module: string): Promise<void> {
  const state = await requireState(dir);
  if (!state.agents) return;
  const current = state.agents.find((a) => a.module === module);
  if (await running(current)) return;
  const { box } = await loadSpec(state.spec);
  const port = state.agents[0]?.port ?? box.spec.failover.port;
  // Its kubeconfig from `up` normally; minted only if it has none (the API may be down now).
  await writeAgentKubeconfigs(dir, box, [module]);
  const [agent] = await spawnAgents(dir, state, box, [module], port, await edgeboxCli());
  await updateState(dir, (s) => {
    s.agents = box.spec.modules
      .map((m) => (m.name === module ? agent : s.agents?.find((a) => a.module === m.name)))
      .filter((a): a is AgentState => a !== undefined);
  });
  await awaitAgent(agent!);
}

/** `kill`: the module's agent dies with it, without a chance to say goodbye (SIGKILL). */
export async function killAgent(state: BoxState, module: string): Promise<boolean> {
  const agent = state.agents?.find((a) => a.module === module);
  if (!agent || !(await running(agent))) return false;
  await killProcesses([agent]);
  return true;
}

async function spawnAgents(
  dir: string,
  state: BoxState,
  box: BoxSpec,
  modules: string[],
  port: number,
  cli: { bin: string; script: string },
): Promise<AgentState[]> {
  const addresses = localAddresses(box);
  // Free on the agent's own address, not only on 127.0.0.1: sockets bound to 127.0.1.N (the
  // module's member processes, agents' API connections) take ports there that 127.0.0.1 does not see.
  const httpPorts: number[] = [];
  for (const m of modules) httpPorts.push((await freeTcpPortsOn([addresses[m]!], 1))[0]!);
  // A box with clock faults: each module's wall clock is its own (module-clock.ts).
  const envs = state.clockFaults ? await Promise.all(modules.map((m) => clockEnv(dir, m))) : [];
  return modules.map((module, i) => {
    const address = addresses[module]!;
    const httpPort = httpPorts[i]!;
    const log = join(dir, 'logs', `agent-${module}.log`);
    const args = agentArgs({
      spec: state.spec,
      module,
      secretFile: boxSecretFile(dir),
      kubeconfig: agentKubeconfigFile(dir, module),
      address,
      port,
      httpPort,
      addressMap: addressMapFile(dir),
      runtimeFile: runtimeFile(dir, module),
      runtimeApiSocket: apiSocketFile(dir),
      ...(state.controlPlane.mode === 'spec' ? { localDir: dir, roleDriver: engineOf(state).roleDriver } : {}),
    });
    const pid = spawnDetached({ bin: cli.bin, args: [cli.script, ...args], log, cwd: dir, ...(envs[i] ? { env: envs[i] } : {}) });
    // The module's cgroup: what `isolate` and `partition` tell its packets apart by (module-cgroup.ts).
    joinModuleCgroup(dir, module, pid);
    return { module, address, port, httpPort, pid, log, ...cli };
  });
}

function awaitAgent(a: AgentState): Promise<void> {
  return awaitProcessHealthy({
    name: `agent ${a.module}`,
    proc: a,
    log: a.log,
    health: { url: `http://${a.address}:${a.httpPort}/healthz` },
    timeoutMs: START_TIMEOUT_MS,
  });
}

/**
 * Starts controllers `controller-1` .. `controller-<count>` that are not running (never stops
 * one: asking for fewer than run changes nothing); returns what it started.
 */
export async function ensureControllers(dir: string, count: number, progress: Progress): Promise<string[]> {
  const cli = await edgeboxCli();
  const state = await requireState(dir);
  await ensureSystemNamespace(dir);
  const wanted: string[] = [];
  for (const id of controllerIds(count)) if (!(await running(state.controllers?.find((c) => c.id === id)))) wanted.push(id);
  if (wanted.length === 0) return [];
  const ports = await freePorts(wanted.length);
  const started: ControllerState[] = wanted.map((id, i) => {
    const metricsPort = ports[i]!;
    const log = join(dir, 'logs', `${id}.log`);
    const args = controllerArgs({ spec: state.spec, kubeconfig: boxFiles(dir).kubeconfig, id, metricsPort, dir });
    const pid = spawnDetached({ bin: cli.bin, args: [cli.script, ...args], log, cwd: dir, env: controllerEnv() });
    return { id, metricsPort, pid, log, ...cli };
  });
  await updateState(dir, (s) => {
    const kept = (s.controllers ?? []).filter((c) => !wanted.includes(c.id));
    s.controllers = [...kept, ...started].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  });
  const { ms } = await timed(progress, `waiting for ${started.length} controller(s)`, async () => {
    try {
      await Promise.all(
        started.map((c) =>
          awaitProcessHealthy({
            name: c.id,
            proc: c,
            log: c.log,
            health: { url: `http://${LOOPBACK}:${c.metricsPort}/healthz` },
            timeoutMs: START_TIMEOUT_MS,
          }),
        ),
      );
    } catch (e) {
      await stopProcesses(started, 2000);
      throw e;
    }
  });
  progress(`  controllers started: ${started.map((c) => `${c.id} (pid ${c.pid})`).join(', ')} in ${seconds(ms)}`);
  return started.map((c) => c.id);
}

/**
 * The namespace of the agents' and the controller's Leases. `apply` creates it on a real box;
 * a local box starts its agents before anything is applied.
 */
async function ensureSystemNamespace(dir: string): Promise<void> {
  const core = coreApi(boxFiles(dir).kubeconfig);
  await core.createNamespace({ body: { metadata: { name: SYSTEM_NAMESPACE } } }).catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
}
