import type { GuardianPlan } from './plan.js';
import type { HistoryEntry, ControlPlaneStatus, ControlPlaneHistoryEntry } from '../../contract/edgebox-status.js';

/**
 * `EdgeBox.status.controlPlane`: the voters, the etcd leader, the change in progress, the
 * history of changes, and since when the box has been short of healthy voters. Pure: the
 * previous status (read from the API) and the plan in, the new status out, so a new leader
 * carries the history and the degradation time on.
 */

export const MAX_HISTORY = 20;
const key = (e: ControlPlaneHistoryEntry) => `${e.at}/${e.type}/${e.module ?? ''}`;

/** Entries merged by time, type and module (a retried write never duplicates one), oldest first, the last `keep` kept. */
export function mergeHistory(
  existing: readonly ControlPlaneHistoryEntry[],
  added: readonly ControlPlaneHistoryEntry[],
  keep = MAX_HISTORY,
): ControlPlaneHistoryEntry[] {
  const byKey = new Map(existing.map((e) => [key(e), e]));
  for (const e of added) byKey.set(key(e), e);
  return [...byKey.values()].sort((a, b) => a.at.localeCompare(b.at) || key(a).localeCompare(key(b))).slice(-keep);
}

export interface StatusResult {
  status: ControlPlaneStatus;
  /** Set when this status ends a degradation: the restore the guardian reports (Event, metric). */
  restored?: Extract<ControlPlaneHistoryEntry, { type: 'restored' }>;
}

export function controlPlaneStatus(o: {
  now: number;
  servers: number;
  plan: GuardianPlan;
  previous: ControlPlaneStatus | undefined;
  added: readonly HistoryEntry[];
}): StatusResult {
  const { view } = o.plan;
  const known = view.members !== undefined;
  const full = known && view.quorum && view.healthyVoters >= o.servers && view.voters.length >= o.servers;
  const since = o.previous?.degradedSince;
  let degradedSince: string | undefined;
  let restored: StatusResult['restored'];
  // Unknown (no member list yet, or the API is back before the reports are): nothing to measure from.
  if (!known) degradedSince = since;
  else if (!full) degradedSince = since ?? new Date(o.now).toISOString();
  else if (since !== undefined) {
    const durationMs = Math.max(0, o.now - Date.parse(since));
    restored = {
      at: new Date(o.now).toISOString(),
      type: 'restored',
      reason: `${view.healthyVoters} healthy voters again, ${(durationMs / 1000).toFixed(1)} s after the control plane was first seen short of them`,
      durationMs,
    };
  }
  const history = mergeHistory(o.previous?.history ?? [], [...o.added, ...(restored ? [restored] : [])]);
  return {
    status: {
      voters: view.voters.map((v) => ({ module: v.module, healthy: v.healthy, memberId: v.memberId })),
      learners: view.learners,
      leader: view.leader,
      quorum: view.quorum,
      servers: o.servers,
      pending: o.plan.pending,
      history,
      ...(o.plan.message ? { message: o.plan.message } : {}),
      ...(degradedSince ? { degradedSince } : {}),
    },
    ...(restored ? { restored } : {}),
  };
}
