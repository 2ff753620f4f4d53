import { readState, removeState } from './box-state.js';
import { removeChain } from './partition.js';
import { resumeApiservers } from './api-hang.js';
import { removeBoxCgroups } from './module-cgroup.js';
import { isRunning, stopProcesses, type ProcessRef } from './processes.js';
import { memberAddresses } from './server-layout.js';
import { engineOf } from './engine/engines.js';

export interface DownResult {
  box?: string;
  /** What was still running and was stopped: components, `agent <module>`, `controller-<n>`, `etcd <module>`, `kube-apiserver <module>`. */
  stopped: string[];
}

/**
 * Stops every process of the box (SIGTERM, SIGKILL after `graceMs`): first the controllers and
 * agents (together: they only talk to the API server and each other), then the box-level
 * components in reverse start order (KWOK first, the API proxy last), then the engine's servers
 * (src/local/engine: API servers before their etcd members; K3s servers and their namespaces),
 * wherever the agents' role drivers started them since `up`. Removes the box's firewall chains (partition.ts, api-hang.ts) and cgroups. Idempotent. Logs and data stay in the box
 * dir for inspection until the next `up` replaces them.
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
  for (const c of [...components].reverse()) await stopProcesses([c], opts.graceMs);
  const servers = await engineOf(state).stopServers(state, opts.graceMs);
  await removeChain(dir);
  await resumeApiservers(dir);
  removeBoxCgroups(dir, [...new Set([...Object.keys(state.addresses), ...Object.keys(memberAddresses(state))])]);
  await removeState(dir);
  return {
    box: state.box,
    stopped: [...controllers.map((c) => c.id), ...agents.map((a) => `agent ${a.module}`), ...components.map((c) => c.name), ...servers],
  };
}
