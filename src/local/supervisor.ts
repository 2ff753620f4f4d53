import { backoffMs } from '../base/backoff.js';
import { readState, updateState, type BoxState, type ComponentState } from './box-state.js';
import { componentCommands } from './components.js';
import { boxFiles } from './credentials.js';
import { launch } from './launch.js';
import { isRunning, sleep } from './processes.js';
import { timingsFor } from './timings.js';

/**
 * Keeps the box's kube-controller-manager and kube-scheduler running, as K3s does in-process on
 * a real box: with leader election on, both exit when they cannot renew their lease (the API
 * without etcd quorum, during a majority loss), and nothing else would start them again. A
 * process of its own (`supervisor-process.ts`), started last and stopped first by `down`.
 */

export const SUPERVISED = ['kube-controller-manager', 'kube-scheduler'] as const;
type Supervised = (typeof SUPERVISED)[number];

/** Between restarts of one component that keeps exiting: 1 s doubling to 16 s; reset after a minute up. */
export function restartDelayMs(recentRestarts: number): number {
  return backoffMs(recentRestarts, { initialMs: 1000, maxMs: 16_000 });
}
const STABLE_MS = 60_000;

export interface SupervisorOptions {
  dir: string;
  log: (msg: string) => void;
  intervalMs?: number;
}

/** Runs until the box state is gone (`down`) or `signal` aborts. */
export async function supervise(o: SupervisorOptions, signal: AbortSignal): Promise<void> {
  const restarts = new Map<Supervised, { count: number; at: number }>();
  while (!signal.aborted) {
    const state = await readState(o.dir);
    if (!state) return;
    for (const name of SUPERVISED) {
      const c = state.components.find((x) => x.name === name);
      if (!c || (c.heldUntil && Date.parse(c.heldUntil) > Date.now()) || (await isRunning(c.pid, c.bin))) continue;
      const last = restarts.get(name);
      const recent = last && Date.now() - last.at < STABLE_MS ? last.count : 0;
      if (last && Date.now() - last.at < restartDelayMs(recent)) continue;
      const started = await restart(o.dir, state, c);
      if (!started) continue;
      restarts.set(name, { count: recent + 1, at: Date.now() });
      o.log(`${name} pid ${c.pid} exited; started again as pid ${started.pid} (restart ${started.restarts})`);
    }
    await sleep(o.intervalMs ?? 1000);
  }
}

/**
 * Relaunches `was` under the state lock, only if the state still records that very process:
 * `restartComponent` (tests) or another writer may have replaced it meanwhile.
 */
async function restart(dir: string, snapshot: BoxState, was: ComponentState): Promise<ComponentState | undefined> {
  const files = boxFiles(dir);
  const cmd = componentCommands({ files, ports: snapshot.ports, timings: timingsFor(snapshot.timings), dir }).find((x) => x.name === was.name);
  if (!cmd) return undefined;
  let started: ComponentState | undefined;
  await updateState(dir, (s) => {
    const i = s.components.findIndex((x) => x.name === was.name);
    if (i < 0 || s.components[i]!.pid !== was.pid) return;
    started = { ...launch(cmd, dir, was.bin), restarts: (was.restarts ?? 0) + 1 };
    s.components[i] = started;
  });
  return started;
}
