import { PREFIX } from './labels.js';
import type { ControlPlaneReport, MemberInfo } from './role-driver.js';

/**
 * The names the guardian and the agents' role loops share (docs/decisions/0002-control-plane.md),
 * and the agent's quorum-loss report.
 */
export const CONTROL_PLANE_ANNOTATIONS = {
  /** On the agent Lease `edgebox-system/agent-<module>`: the module's member, JSON of ControlPlaneReport. */
  report: `${PREFIX}/control-plane`,
  /** On a Node: `server` or `agent`, the role the guardian wants the module in. */
  desiredRole: `${PREFIX}/desired-role`,
  /** On a Node: `"true"`, remove this module's etcd member (our mirror of K3s's `etcd.k3s.cattle.io/remove`). */
  etcdRemove: `${PREFIX}/etcd-remove`,
  /** On a Node: set by `edgebox drain` (RFC 3339 of the request); the module gives up its server role and is never chosen as a server. */
  drain: `${PREFIX}/drain`,
  /** On a Node: the guardian's membership change in progress on this module (JSON of RoleChange). */
  change: `${PREFIX}/role-change`,
} as const;

/**
 * K3s's own request to remove a Node's etcd member (its leader-elected server acts on it). The
 * etcd leader's agent writes it on the Node the guardian marked with `etcdRemove`: the one write an
 * agent makes on another module's Node (the admission policy of render/agent-policy.ts checks it).
 */
export const K3S_REMOVE_ANNOTATION = 'etcd.k3s.cattle.io/remove';

export type DesiredRole = 'server' | 'agent';

/** A membership change the guardian started, as it keeps it on the module's Node. */
export interface RoleChange {
  type: 'promote' | 'remove' | 'demote';
  /** ms since the epoch when the guardian asked for it. */
  at: number;
  reason: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseMember(v: unknown): MemberInfo | undefined {
  if (!isObject(v) || typeof v.id !== 'string' || typeof v.name !== 'string') return undefined;
  const urls = (x: unknown) => (Array.isArray(x) ? x.filter((u): u is string => typeof u === 'string') : []);
  return { id: v.id, name: v.name, peerURLs: urls(v.peerURLs), clientURLs: urls(v.clientURLs), learner: v.learner === true };
}

/** The report in an agent Lease's annotation, or undefined when absent or unreadable (a reader never trusts half a report). */
export function parseControlPlaneReport(text: string | undefined): ControlPlaneReport | undefined {
  if (!text) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(raw) || (raw.role !== 'server' && raw.role !== 'agent')) return undefined;
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
  const str = (x: unknown) => (typeof x === 'string' && x !== '' ? x : undefined);
  const members = Array.isArray(raw.members) ? raw.members.map(parseMember) : undefined;
  const report: ControlPlaneReport = { role: raw.role, running: raw.running === true, healthy: raw.healthy === true };
  const memberId = str(raw.memberId);
  const leader = str(raw.leader);
  const raftIndex = num(raw.raftIndex);
  const revision = num(raw.revision);
  const message = str(raw.message);
  if (memberId !== undefined) report.memberId = memberId;
  if (leader !== undefined) report.leader = leader;
  if (raftIndex !== undefined) report.raftIndex = raftIndex;
  if (revision !== undefined) report.revision = revision;
  // A list with an unreadable entry is dropped whole: a partial member list would look like a removal.
  if (members !== undefined && members.every((m) => m !== undefined)) report.members = members as MemberInfo[];
  if (message !== undefined) report.message = message;
  return report;
}

export function formatRoleChange(c: RoleChange): string {
  return JSON.stringify({ type: c.type, at: new Date(c.at).toISOString(), reason: c.reason });
}

export function parseRoleChange(text: string | undefined): RoleChange | undefined {
  if (!text) return undefined;
  try {
    const raw = JSON.parse(text) as Record<string, unknown>;
    const at = typeof raw.at === 'string' ? Date.parse(raw.at) : Number.NaN;
    if ((raw.type !== 'promote' && raw.type !== 'remove' && raw.type !== 'demote') || Number.isNaN(at)) return undefined;
    return { type: raw.type, at, reason: typeof raw.reason === 'string' ? raw.reason : '' };
  } catch {
    return undefined;
  }
}

/** The annotation on the agent Lease with the agent's part in a quorum-loss recovery (JSON of QuorumStatus). */
export const QUORUM_RECOVERY_ANNOTATION = `${PREFIX}/quorum-recovery`;
