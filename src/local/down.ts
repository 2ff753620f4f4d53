import { readState, removeState } from './box-state.js';
import { isRunning, stopProcesses } from './processes.js';
import type { Component } from './toolchain.js';

export interface DownResult {
  box?: string;
  /** Components that were still running and were stopped. */
  stopped: Component[];
}

/**
 * Stops every component of the box (SIGTERM, SIGKILL after `graceMs`) in reverse start order, so
 * KWOK and the controllers go before the API server and etcd. Idempotent. Logs and data stay in
 * the box dir for inspection until the next `up` replaces them.
 */
export async function down(dir: string, opts: { graceMs?: number } = {}): Promise<DownResult> {
  const state = await readState(dir);
  if (!state) return { stopped: [] };
  const running = [];
  for (const c of state.components) if (await isRunning(c.pid, c.bin)) running.push(c);
  // Reverse order, one at a time: etcd must outlive the API server's shutdown.
  for (const c of [...running].reverse()) await stopProcesses([c], opts.graceMs);
  await removeState(dir);
  return { box: state.box, stopped: running.map((c) => c.name) };
}
