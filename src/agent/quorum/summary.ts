/**
 * The control-plane summary an agent puts in each of its heartbeats, so that the agents can
 * recover from a quorum loss with no API to talk through (src/agent/quorum/decide.ts). Short on
 * purpose: it rides in a UDP datagram several times a second.
 */

/** What an agent is doing about a quorum loss; absent while the control plane has a leader. */
export const RECOVERY_PHASES = ['waiting', 'fencing', 'resetting', 'reset', 'refused', 'standby'] as const;
export type RecoveryPhase = (typeof RECOVERY_PHASES)[number];

export interface ControlPlaneSummary {
  role: 'server' | 'agent';
  /** A voting member of the etcd cluster, by its own member list. */
  voter: boolean;
  /** Raft index of its member's data; absent when the member does not answer. */
  raftIndex?: number;
  /** Its etcd member follows (or is) a leader. */
  leader: boolean;
  /**
   * Peers this agent does not hear, each with the whole seconds since it last did (or since it
   * started, before the first heartbeat): the witness statements of a quorum-loss recovery.
   */
  down?: Record<string, number>;
  /** Its part in a quorum-loss recovery. */
  phase?: RecoveryPhase;
  /** The survivor it votes for (same rule on every agent: highest raft index, then name). */
  vote?: string;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Reads a summary from an authenticated heartbeat. Returns undefined for anything that is not a
 * well-formed summary: the heartbeat itself still counts (the peer is alive), it just tells
 * nothing about the control plane, which every decision reads as "not confirmed".
 */
export function parseSummary(raw: unknown): ControlPlaneSummary | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  if ((r.role !== 'server' && r.role !== 'agent') || typeof r.voter !== 'boolean' || typeof r.leader !== 'boolean') return undefined;
  if (r.raftIndex !== undefined && !isCount(r.raftIndex)) return undefined;
  if (r.phase !== undefined && !RECOVERY_PHASES.includes(r.phase as RecoveryPhase)) return undefined;
  if (r.vote !== undefined && typeof r.vote !== 'string') return undefined;
  let down: Record<string, number> | undefined;
  if (r.down !== undefined) {
    if (typeof r.down !== 'object' || r.down === null || Array.isArray(r.down)) return undefined;
    down = {};
    for (const [peer, s] of Object.entries(r.down as Record<string, unknown>)) {
      if (!isCount(s)) return undefined;
      down[peer] = s;
    }
  }
  return {
    role: r.role,
    voter: r.voter,
    leader: r.leader,
    ...(r.raftIndex !== undefined ? { raftIndex: r.raftIndex } : {}),
    ...(down ? { down } : {}),
    ...(r.phase !== undefined ? { phase: r.phase as RecoveryPhase } : {}),
    ...(r.vote !== undefined ? { vote: r.vote } : {}),
  };
}
