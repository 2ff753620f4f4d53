import { readState, removeState } from './box-state.js';
import { healAll } from './partition.js';
import { isRunning, stopProcesses, type ProcessRef } from './processes.js';

export interface DownResult {
  box?: string;
  /** What was still running and was stopped: components, `agent <module>`, `controller-<n>`. */
  stopped: string[];
}

/**
 * Stops every process of the box (SIGTERM, SIGKILL after `graceMs`): first the controllers and
 * agents (together: they only talk to the API server and each other), then the components in
 * reverse start order, so KWOK and the controllers go before the API server and etcd. Removes
 * the box's partition rules. Idempotent. Logs and data stay in the box dir for inspection until
 * the next `up` replaces them.
 */
export async function down(dir: string, opts: { graceMs?: number } = {}): Promise<DownResult> {
  const state = await readState(dir);
  if (!state) return { stopped: [] };
  const stillRunning = async <T extends ProcessRef>(ps: readonly T[]) => {
    const out: T[] = [];
    for (const p of ps) if (await isRunning(p.pid, p.bin, p.script)) out.push(p);
    return out;
  };
  const controllers = await stillRunning(state.controllers ?? []);
  const agents = await stillRunning(state.agents ?? []);
  await stopProcesses([...controllers, ...agents], opts.graceMs);
  const components = await stillRunning(state.components);
  // Reverse order, one at a time: etcd must outlive the API server's shutdown.
  for (const c of [...components].reverse()) await stopProcesses([c], opts.graceMs);
  await healAll(dir);
  await removeState(dir);
  return {
    box: state.box,
    stopped: [...controllers.map((c) => c.id), ...agents.map((a) => `agent ${a.module}`), ...components.map((c) => c.name)],
  };
}
