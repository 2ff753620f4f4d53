import { readFile } from 'node:fs/promises';
import { LABELS } from '../spec/labels.js';
import { readState, type BoxState } from './box-state.js';
import { boxFiles } from './credentials.js';
import { coreApi, readyStatus } from './kube-client.js';
import { isRunning, residentBytes } from './processes.js';
import { LOCAL_ADDRESS_ANNOTATION } from './simulated-nodes.js';
import { COMPONENTS, type Component } from './toolchain.js';

export type ComponentPhase = 'running' | 'crashed' | 'stopped';

export interface ComponentStatus {
  name: Component;
  phase: ComponentPhase;
  pid?: number;
  log?: string;
  rssBytes?: number;
}

export interface NodeStatus {
  name: string;
  ready: string;
  address?: string;
  killed: boolean;
}

export interface BoxStatus {
  dir: string;
  box?: string;
  timings?: string;
  kubeconfig?: string;
  components: ComponentStatus[];
  nodes: NodeStatus[];
  /** Why the nodes could not be listed, when the API server runs but did not answer. */
  nodesError?: string;
}

/**
 * Each component of the box: `running`, `crashed` (the box state says it was started and its
 * process is gone: its log says why) or `stopped` (no box is up in the directory).
 */
export async function componentStatuses(state: BoxState | undefined): Promise<ComponentStatus[]> {
  if (!state) return COMPONENTS.map((name) => ({ name, phase: 'stopped' as const }));
  return Promise.all(COMPONENTS.map(async (name): Promise<ComponentStatus> => {
    const c = state.components.find((x) => x.name === name);
    if (!c) return { name, phase: 'stopped' };
    if (!(await isRunning(c.pid, c.bin))) return { name, phase: 'crashed', pid: c.pid, log: c.log };
    const rssBytes = await residentBytes(c.pid);
    return { name, phase: 'running', pid: c.pid, log: c.log, ...(rssBytes !== undefined ? { rssBytes } : {}) };
  }));
}

export async function boxStatus(dir: string): Promise<BoxStatus> {
  const state = await readState(dir);
  const components = await componentStatuses(state);
  const status: BoxStatus = { dir, components, nodes: [] };
  if (!state) return status;
  status.box = state.box;
  status.timings = state.timings;
  status.kubeconfig = boxFiles(dir).kubeconfig;
  if (components.find((c) => c.name === 'kube-apiserver')?.phase !== 'running') return status;
  try {
    const list = await coreApi(status.kubeconfig).listNode({ labelSelector: `${LABELS.box}=${state.box}` });
    status.nodes = list.items.map((n) => ({
      name: n.metadata?.name ?? '',
      ready: readyStatus(n),
      ...(n.metadata?.annotations?.[LOCAL_ADDRESS_ANNOTATION] ? { address: n.metadata.annotations[LOCAL_ADDRESS_ANNOTATION] } : {}),
      killed: state.killed.includes(n.metadata?.name ?? ''),
    }));
  } catch (e) {
    status.nodesError = (e as Error).message;
  }
  return status;
}

/** The last lines of a component's log, for error messages that say why it stopped. */
export async function logTail(file: string, lines = 8): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
