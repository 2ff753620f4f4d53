import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failure } from '../diagnostics/diagnostic.js';
import type { TimingsName } from './components.js';
import { sleep } from './processes.js';
import type { Component } from './toolchain.js';

/**
 * What a running box is, written to `<box dir>/state.json` so that `down`, `status`, `kill` and
 * `revive` from other invocations (and the test harness) act on the same processes.
 */
export interface BoxState {
  /** Bumped when the shape changes incompatibly. */
  version: 1;
  box: string;
  spec: string;
  dir: string;
  timings: TimingsName;
  startedAt: string;
  ports: Ports;
  /** In start order; `down` stops them in reverse. */
  components: ComponentState[];
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

export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
}

export interface ComponentState {
  name: Component;
  pid: number;
  bin: string;
  log: string;
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
