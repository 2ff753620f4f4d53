import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TimingsName } from './components.js';
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

export async function removeState(dir: string): Promise<void> {
  await rm(statePath(dir), { force: true });
}
