import type { ControlPlaneReport } from '../contract/role-driver.js';
import { majorityOf } from '../base/majority.js';
import { table } from '../base/table.js';
import type { ControlPlaneStatus } from '../contract/edgebox-status.js';

/**
 * What `edgebox status` prints: the modules, the control plane and the peripherals, read from
 * the EdgeBox status the controller writes or, when the API is unavailable, pieced together from
 * the agents' own endpoints. Pure: the readers (read-api.ts, read-agents.ts) do the I/O.
 */

export interface StatusModule {
  name: string;
  health: string;
  role: 'server' | 'agent' | 'unknown';
}

export interface StatusPeripheral {
  name: string;
  owner: string | null;
  token: number;
}

export interface BoxStatusReport {
  box: string;
  /** Where it was read: the EdgeBox status through the API, or the agents' HTTP endpoints. */
  source: 'api' | 'agents';
  apiAvailable: boolean;
  /** Why the API is not used, or what the reader could not tell. */
  message?: string;
  modules: StatusModule[];
  controlPlane: Pick<ControlPlaneStatus, 'voters' | 'leader' | 'quorum' | 'pending' | 'history'> &
    Partial<Pick<ControlPlaneStatus, 'learners' | 'servers' | 'message' | 'degradedSince'>>;
  peripherals: StatusPeripheral[];
}

/** The EdgeBox object's status as the controller (and its peripheral reconciler) write it. */
export interface EdgeBoxStatusBody {
  modules?: { name: string; health?: string; role?: 'server' | 'agent' }[];
  controlPlane?: ControlPlaneStatus;
  peripherals?: { name: string; owner?: string | null; token?: number }[];
}

export function fromEdgeBoxStatus(box: string, status: EdgeBoxStatusBody | undefined): BoxStatusReport {
  const cp = status?.controlPlane;
  return {
    box,
    source: 'api',
    apiAvailable: true,
    ...(cp ? {} : { message: 'the controller has not written status.controlPlane yet (is `edgebox controller` running?)' }),
    modules: (status?.modules ?? []).map((m) => ({ name: m.name, health: m.health ?? 'Unknown', role: m.role ?? 'unknown' })),
    controlPlane: cp ?? { voters: [], leader: null, quorum: false, pending: null, history: [] },
    peripherals: (status?.peripherals ?? []).map((p) => ({ name: p.name, owner: p.owner ?? null, token: p.token ?? 0 })),
  };
}

/** What one agent's /healthz said, or why it could not be read. */
export interface AgentProbe {
  module: string;
  reachable: boolean;
  controlPlane?: ControlPlaneReport | null;
  /** Its part in a quorum-loss recovery (src/agent/quorum), as the agent reports it. */
  quorum?: { state?: string; survivor?: string; message?: string; hint?: string } | null | undefined;
  error?: string;
}

/**
 * The control plane as the agents see it while the API is down: each voter's own report, the
 * member list of the module that has the highest raft index, and what the agents say about the
 * quorum-loss recovery.
 */
export function fromAgents(box: string, modules: readonly string[], probes: readonly AgentProbe[], why: string): BoxStatusReport {
  const byModule = new Map(probes.map((p) => [p.module, p]));
  const listing = probes
    .filter((p) => p.controlPlane?.members !== undefined)
    .sort((a, b) => (b.controlPlane!.raftIndex ?? -1) - (a.controlPlane!.raftIndex ?? -1) || a.module.localeCompare(b.module))[0];
  const voters = (listing?.controlPlane?.members ?? [])
    .filter((m) => !m.learner)
    .map((m) => {
      const r = byModule.get(m.name)?.controlPlane;
      return { module: m.name, healthy: Boolean(r?.running && r.healthy), memberId: m.id };
    });
  const healthy = voters.filter((v) => v.healthy).length;
  const recovery = probes.map((p) => p.quorum).find((q) => q && q.state && q.state !== 'ok');
  const notes = [
    why,
    ...(recovery
      ? [
          `recovery: ${recovery.state}${recovery.survivor ? ` (survivor ${recovery.survivor})` : ''}${recovery.message ? `: ${recovery.message}` : ''}${recovery.hint ? ` — ${recovery.hint}` : ''}`,
        ]
      : []),
  ];
  return {
    box,
    source: 'agents',
    apiAvailable: false,
    message: notes.join('; '),
    modules: modules.map((name) => {
      const p = byModule.get(name);
      const role = p?.controlPlane?.role ?? 'unknown';
      return { name, health: p?.reachable ? 'Reachable' : 'Unreachable', role };
    }),
    controlPlane: {
      voters,
      leader: probes.map((p) => p.controlPlane?.leader).find((l): l is string => typeof l === 'string') ?? null,
      quorum: voters.length > 0 && healthy >= majorityOf(voters.length),
      pending: null,
      history: [],
    },
    peripherals: [],
  };
}

export function formatStatus(r: BoxStatusReport): string {
  const cp = r.controlPlane;
  const out: string[] = [];
  out.push(`box ${r.box} (read from ${r.source === 'api' ? 'the API' : 'the agents: the API is unavailable'})\n`);
  if (r.message) out.push(`note: ${r.message}\n`);
  out.push(
    '\nMODULES\n',
    table(
      ['MODULE', 'HEALTH', 'ROLE'],
      r.modules.map((m) => [m.name, m.health, m.role]),
    ),
  );
  const healthy = cp.voters.filter((v) => v.healthy).length;
  out.push(
    `\nCONTROL PLANE: ${healthy}/${cp.voters.length} voters healthy${cp.servers !== undefined ? ` (${cp.servers} wanted)` : ''}, quorum ${cp.quorum ? 'yes' : 'NO'}, leader ${cp.leader ?? 'unknown'}\n`,
  );
  if (cp.voters.length)
    out.push(
      table(
        ['VOTER', 'HEALTHY', 'MEMBER ID'],
        cp.voters.map((v) => [v.module, v.healthy ? 'yes' : 'no', v.memberId ?? '']),
      ),
    );
  if (cp.learners?.length) out.push(`learners: ${cp.learners.join(', ')}\n`);
  if (cp.pending)
    out.push(
      `pending: ${cp.pending.type} ${cp.pending.module}${cp.pending.since ? ` since ${cp.pending.since}` : ''}${cp.pending.reason ? ` (${cp.pending.reason})` : ''}\n`,
    );
  if (cp.degradedSince) out.push(`short of healthy voters since ${cp.degradedSince}\n`);
  if (cp.message && !cp.pending) out.push(`${cp.message}\n`);
  if (cp.history.length) {
    out.push(
      'history:\n',
      table(
        ['AT', 'CHANGE', 'MODULE', 'TOOK', 'REASON'],
        cp.history.map((h) => [h.at, h.type, h.module ?? '-', h.durationMs === undefined ? '' : `${(h.durationMs / 1000).toFixed(1)} s`, h.reason]),
      ),
    );
  }
  if (r.peripherals.length) {
    out.push(
      '\nPERIPHERALS\n',
      table(
        ['PERIPHERAL', 'OWNER', 'TOKEN'],
        r.peripherals.map((p) => [p.name, p.owner ?? '-', String(p.token)]),
      ),
    );
  }
  return out.join('');
}
