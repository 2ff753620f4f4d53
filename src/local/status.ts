import { CoordinationV1Api } from '@kubernetes/client-node';
import { LABELS } from '../contract/labels.js';
import { BOX_COMPONENTS, readState, type BoxComponent, type BoxState } from './box-state.js';
import { boxFiles } from './credentials.js';
import { coreApi, readyStatus } from '../kube/client.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { listCuts, type Cut } from './partition.js';
import { isRunning, residentBytes, type ProcessRef } from './processes.js';
import { LOCAL_ADDRESS_ANNOTATION } from './simulated-nodes.js';
import { memberAddresses, readServerRecord, type ServerProcess } from './server-layout.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { engineOf } from './engine/engines.js';
import { COMPONENTS, type Component } from './toolchain.js';

const isComponent = (name: string): name is Component => (COMPONENTS as readonly string[]).includes(name);

export type ComponentPhase = 'running' | 'crashed' | 'stopped';

export interface ProcessStatus {
  phase: ComponentPhase;
  pid?: number;
  log?: string;
  rssBytes?: number;
}

export interface ComponentStatus extends ProcessStatus {
  name: BoxComponent;
  /** Times the supervisor started it again (kube-controller-manager, kube-scheduler). */
  restarts?: number;
}

/** A module's control-plane member processes (its agent's role driver runs them; `up` the first ones). */
export interface ServerStatus {
  module: string;
  address: string;
  etcd: ProcessStatus;
  apiserver: ProcessStatus;
  /** The K3s engine's `k3s server` (etcd and API server in one process). */
  k3s?: ProcessStatus;
}

export interface AgentStatus extends ProcessStatus {
  module: string;
  address: string;
}

export interface ControllerStatus extends ProcessStatus {
  id: string;
  /** Holds the leader Lease (`edgebox-system/edgebox-controller`). */
  leader: boolean;
}

/** The controller's leader-election Lease (docs/decisions/0001-self-healing.md). */
const LEADER_LEASE = { namespace: SYSTEM_NAMESPACE, name: 'edgebox-controller' };

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
  /** Every module that runs, or ran, an etcd member and an API server. */
  servers: ServerStatus[];
  /** With `up --with-agents`; an agent of a killed module is `stopped`. */
  agents: AgentStatus[];
  controllers: ControllerStatus[];
  /** What `local partition` and `local isolate` cut, and who lost the API by it (partition.ts). */
  cuts: Cut[];
  nodes: NodeStatus[];
  /** Why the nodes could not be listed, when the API server runs but did not answer. */
  nodesError?: string;
}

/**
 * Each component of the box: `running`, `crashed` (the box state says it was started and its
 * process is gone: its log says why) or `stopped` (no box is up in the directory).
 */
export async function componentStatuses(state: BoxState | undefined): Promise<ComponentStatus[]> {
  if (!state) return BOX_COMPONENTS.map((name) => ({ name, phase: 'stopped' as const }));
  // Only what the box's engine runs: K3s has its own controller-manager and scheduler.
  const engine = engineOf(state);
  const ours = BOX_COMPONENTS.filter((name) => !isComponent(name) || engine.components.includes(name));
  return Promise.all(
    ours.map(async (name): Promise<ComponentStatus> => {
      const c = state.components.find((x) => x.name === name);
      if (!c) return { name, phase: 'stopped' };
      return { name, ...(await processStatus(c, c.log)), ...(c.restarts ? { restarts: c.restarts } : {}) };
    }),
  );
}

async function processStatus(p: ProcessRef, log: string): Promise<ProcessStatus> {
  if (!(await isRunning(p.pid, p.bin, p.script))) return { phase: 'crashed', pid: p.pid, log };
  const rssBytes = await residentBytes(p.pid);
  return { phase: 'running', pid: p.pid, log, ...(rssBytes !== undefined ? { rssBytes } : {}) };
}

/**
 * Each module's member processes from its record: `running`, `crashed` (recorded, gone; a killed
 * module's are `stopped`), or `stopped` (none recorded: an agent, or demoted).
 */
export async function serverStatuses(state: BoxState): Promise<ServerStatus[]> {
  const one = async (p: ServerProcess | undefined, killed: boolean): Promise<ProcessStatus> => {
    if (!p) return { phase: 'stopped' };
    const s = await processStatus(p, p.log);
    return s.phase === 'crashed' && killed ? { phase: 'stopped', log: p.log } : s;
  };
  const all = await Promise.all(
    Object.entries(memberAddresses(state)).map(async ([module, address]) => {
      const record = await readServerRecord(state.dir, module);
      if (!record.etcd && !record.apiserver && !record.k3s) return undefined;
      const killed = state.killed.includes(module);
      return {
        module,
        address: state.k3s?.network.members[module]?.address ?? address,
        etcd: await one(record.etcd, killed),
        apiserver: await one(record.apiserver, killed),
        ...(record.k3s ? { k3s: await one(record.k3s, killed) } : {}),
      };
    }),
  );
  return all.filter((s): s is ServerStatus => s !== undefined);
}

/** Agents and controllers; the leader is read from its Lease when the API server answers. */
async function selfHealingStatuses(state: BoxState, apiUp: boolean): Promise<Pick<BoxStatus, 'agents' | 'controllers'>> {
  const agents = await Promise.all(
    (state.agents ?? []).map(async (a): Promise<AgentStatus> => ({
      module: a.module,
      address: a.address,
      // A killed module's agent was stopped with it: not a crash.
      ...(state.killed.includes(a.module) ? { phase: 'stopped' as const, log: a.log } : await processStatus(a, a.log)),
    })),
  );
  let leader: string | undefined;
  if (apiUp && state.controllers?.length) {
    const lease = await loadKubeConfig({ path: boxFiles(state.dir).kubeconfig })
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease(LEADER_LEASE)
      .catch(() => undefined);
    leader = lease?.spec?.holderIdentity ?? undefined;
  }
  const controllers = await Promise.all(
    (state.controllers ?? []).map(async (c): Promise<ControllerStatus> => ({
      id: c.id,
      leader: c.id === leader,
      ...(await processStatus(c, c.log)),
    })),
  );
  return { agents, controllers };
}

export async function boxStatus(dir: string): Promise<BoxStatus> {
  const state = await readState(dir);
  const components = await componentStatuses(state);
  const status: BoxStatus = { dir, components, servers: [], agents: [], controllers: [], cuts: [], nodes: [] };
  if (!state) return status;
  status.servers = await serverStatuses(state);
  status.box = state.box;
  status.timings = state.timings;
  status.kubeconfig = boxFiles(dir).kubeconfig;
  const apiUp = components.find((c) => c.name === 'api-proxy')?.phase === 'running' && status.servers.some((x) => x.apiserver.phase === 'running');
  Object.assign(status, await selfHealingStatuses(state, apiUp));
  status.cuts = await listCuts(dir);
  if (!apiUp) return status;
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
