import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failure } from '../diagnostics/diagnostic.js';
import type { TimingsName } from './timings.js';
import type { PodStart } from './kwok-stages.js';
import { sleep } from './processes.js';
import type { EngineName } from './engine/engine.js';
import type { K3sNetwork } from './engine/k3s-plan.js';

/**
 * What a running box is, written to `<box dir>/state.json` so that `down`, `status`, `kill` and
 * `revive` from other invocations (and the test harness) act on the same processes.
 */
export interface BoxState {
  /** Bumped when the shape changes incompatibly. */
  version: 2;
  box: string;
  spec: string;
  dir: string;
  timings: TimingsName;
  startedAt: string;
  /** The built binaries (`<cache>/<versions>/bin`): agents start etcd and kube-apiserver from here. */
  binDir: string;
  /** Module -> its loopback address (127.0.1.N). */
  addresses: Record<string, string>;
  controlPlane: {
    mode: ControlPlaneMode;
    /**
     * The modules `up` started as servers (src/plan/control-plane.ts initialServers); promotions
     * change who serves later. `single`: the host member `control-plane` (server-layout.ts).
     */
    initialServers: string[];
  };
  ports: Ports;
  /** What runs the control plane (src/local/engine). Absent: `process` (boxes from before engines). */
  engine?: EngineName;
  /** The K3s engine's binary and private network (engine/k3s-plan.ts). */
  k3s?: { binary: string; version: string; network: K3sNetwork };
  /**
   * The box-level processes, in start order; `down` stops them in reverse. Each module's etcd and
   * kube-apiserver are in `<box dir>/modules/<module>/control-plane.json` instead (server-layout.ts):
   * the module's agent starts and stops them.
   */
  components: ComponentState[];
  /** KWOK's pod start delay (kwok-stages.ts). Absent in boxes started before it existed. */
  podStart?: PodStart;
  /** `up --clock-faults`: every module's agent runs with a wall clock of its own (module-clock.ts). */
  clockFaults?: boolean;
  /** Modules whose heartbeat `local kill` stopped. */
  killed: string[];
  /** `up --with-agents`: one `edgebox agent run` per module, in spec order. */
  agents?: AgentState[];
  /** `up --with-controller`: the `edgebox controller` processes (two or more for leader failover). */
  controllers?: ControllerState[];
}

/** A Node process running the edgebox CLI (`bin` is Node, `script` is bin/edgebox.js). */
export interface CliProcessState {
  pid: number;
  bin: string;
  script: string;
  log: string;
}

export interface AgentState extends CliProcessState {
  module: string;
  /** The module's loopback address (127.0.1.N): its heartbeats are sent from and received on it. */
  address: string;
  /** UDP heartbeat port, the same for every agent of the box (each binds its own address). */
  port: number;
  /** The agent's /healthz and /peers. */
  httpPort: number;
}

export interface ControllerState extends CliProcessState {
  /** Leader-election identity. */
  id: string;
  metricsPort: number;
}

/**
 * `spec`: as many etcd + kube-apiserver pairs as the spec's `controlPlane.servers`, on the initial
 * servers' addresses (killing a server module stops its pair). `single`: one pair on 127.0.0.1
 * that belongs to no module, whatever the spec says, for tests and benchmarks whose subject is not
 * the control plane (a killed module never takes the API with it, and no role changes happen).
 */
export type ControlPlaneMode = 'spec' | 'single';

export interface Ports {
  /** The box's API address on 127.0.0.1 (the API proxy): what the kubeconfig names. */
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  /** Each module's etcd and kube-apiserver, the same ports on every module address. */
  server: { etcdClient: number; etcdPeer: number; apiserver: number };
}

export const BOX_COMPONENTS = ['api-proxy', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'storage', 'supervisor'] as const;
export type BoxComponent = (typeof BOX_COMPONENTS)[number];

export interface ComponentState {
  name: BoxComponent;
  pid: number;
  bin: string;
  /** The API proxy and the supervisor are Node (`bin`) running this script. */
  script?: string;
  log: string;
  /** Times the supervisor started it again after it exited (supervisor.ts). */
  restarts?: number;
  /** The supervisor leaves it alone until then: a test is restarting it on purpose. */
  heldUntil?: string;
}

const STATE_FILE = 'state.json';

export function statePath(dir: string): string {
  return join(dir, STATE_FILE);
}

export async function readState(dir: string): Promise<BoxState | undefined> {
  let text: string;
  try {
    text = await readFile(statePath(dir), 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as BoxState;
}

/** Written atomically: a reader never sees half a file, even when `up` is interrupted. */
export async function writeState(state: BoxState): Promise<void> {
  const tmp = `${statePath(state.dir)}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, statePath(state.dir));
}

/**
 * Read-modify-write of the state under a lock file: `kill`/`revive` from the CLI or a test and
 * the controller's `local` power driver (another process) may change the same box at once, and
 * without the lock one of them would lose the other's change. A lock left by a process that died
 * is taken over.
 */
export async function updateState(dir: string, change: (state: BoxState) => void): Promise<BoxState> {
  const lock = join(dir, 'state.lock');
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const handle = await open(lock, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(await readFile(lock, 'utf8').catch(() => ''));
      if (holder > 0 && !processExists(holder)) await rm(lock, { force: true });
      else if (Date.now() > deadline) {
        throw failure('local.state-locked', `${lock} has been held by pid ${holder} for 10 s`, `if no edgebox command is running on this box, remove ${lock}`);
      } else await sleep(20);
    }
  }
  try {
    const state = await readState(dir);
    if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
    change(state);
    await writeState(state);
    return state;
  } finally {
    await rm(lock, { force: true });
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function removeState(dir: string): Promise<void> {
  await rm(statePath(dir), { force: true });
}
