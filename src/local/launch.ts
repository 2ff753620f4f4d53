import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type EdgeboxError, failure } from '../diagnostics/diagnostic.js';
import type { ComponentState } from './box-state.js';
import type { ComponentCommand, HealthCheck } from './components.js';
import { healthy } from './health.js';
import { isRunning, sleep, spawnDetached, type ProcessRef } from './processes.js';
import { seconds, timed, type Progress } from './progress.js';
import type { Component } from './toolchain.js';

/** How long each component may take to answer its health check, on a busy 2-core machine. */
export const START_TIMEOUT_MS: Record<Component, number> = {
  etcd: 60_000,
  'kube-apiserver': 180_000,
  'kube-controller-manager': 90_000,
  'kube-scheduler': 90_000,
  kwok: 90_000,
};

/** Starts one component detached, its output appended to `<box dir>/logs/<component>.log`. */
export function launch(cmd: ComponentCommand, dir: string, bin: string): ComponentState {
  const log = join(dir, 'logs', `${cmd.name}.log`);
  const pid = spawnDetached({ bin, args: cmd.args, log, cwd: dir, ...(cmd.env ? { env: cmd.env } : {}) });
  return { name: cmd.name, pid, bin, log };
}

export async function awaitHealthy(cmd: ComponentCommand, c: ComponentState, token: string, progress: Progress): Promise<void> {
  const { ms } = await timed(progress, `waiting for ${cmd.name}`, () =>
    awaitProcessHealthy({ name: c.name, proc: c, log: c.log, timeoutMs: START_TIMEOUT_MS[cmd.name], ...(cmd.health ? { health: cmd.health } : {}), token }),
  );
  progress(`  ${cmd.name} started (pid ${c.pid}, ${seconds(ms)})`);
}

export interface AwaitOptions {
  name: string;
  proc: ProcessRef;
  log: string;
  /** None: started is enough (the caller waits for something else). */
  health?: HealthCheck;
  token?: string;
  timeoutMs: number;
}

/** Until the process answers its health check; fails with its log's last lines if it exits or times out. */
export async function awaitProcessHealthy(o: AwaitOptions): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (!(await isRunning(o.proc.pid, o.proc.bin, o.proc.script))) throw await processFailed(o, 'exited during start-up');
    if (!o.health || (await healthy(o.health, o.token ?? ''))) return;
    if (Date.now() > deadline) throw await processFailed(o, `did not become healthy within ${seconds(o.timeoutMs)} (${o.health.url})`);
    await sleep(250);
  }
}

export async function processFailed(o: { name: string; log: string }, why: string): Promise<EdgeboxError> {
  return failure(
    'local.component-failed',
    `${o.name} ${why}; last lines of ${o.log}:\n${await logTail(o.log)}`,
    `read ${o.log}; a port taken by another process or a stale binary are the usual causes (re-run \`edgebox local setup\`, or \`npm run build\` for agents and controllers)`,
  );
}

/** The last lines of a log, for error messages that say why a process stopped. */
async function logTail(file: string, lines = 8): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
