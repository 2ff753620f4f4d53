import type { DesiredRole } from '../../contract/control-plane.js';
import type { ControlPlaneReport, JoinTarget, MemberInfo } from '../../contract/role-driver.js';

/**
 * What the agent's role loop does next (docs/decisions/0002-control-plane.md). Pure: the loop
 * (role-loop.ts) gathers the inputs from its driver and the API, and acts on the answer, one
 * action at a time.
 */

/** The cluster as the fresh reports of other healthy servers show it (their agent Leases). */
export interface ClusterView {
  /** The member list of a healthy voter. */
  members: MemberInfo[];
  /** Client URLs of the voters that reported healthy: where a joining module asks to be added. */
  etcdEndpoints: string[];
}

export interface RoleInputs {
  module: string;
  report: ControlPlaneReport;
  /** `edgebox.dev/desired-role` on the module's own Node. */
  desired?: DesiredRole;
  /** Modules whose Node has `edgebox.dev/etcd-remove: "true"`. */
  removals: readonly string[];
  /** Undefined: no healthy server reported recently (no quorum, or no API). */
  cluster?: ClusterView;
  /** The box's API address, for a join target. */
  apiServer: string;
  /** Quorum-loss recovery's veto on starting a member (src/agent/quorum). */
  mayStartMember: { ok: boolean; reason?: string };
  /** The driver promotes other modules' learners (RoleDriver.promoteLearner). */
  promotesLearners?: boolean;
}

export type RoleAction =
  | { type: 'none' }
  | { type: 'wait'; reason: string }
  | { type: 'promote'; target: JoinTarget; reason: string }
  | { type: 'demote'; reason: string }
  | { type: 'restart'; reason: string }
  | { type: 'remove'; member: { name: string; id: string }; reason: string }
  | { type: 'promote-learner'; member: { name: string; id: string }; reason: string };

const voters = (members: readonly MemberInfo[]) => members.filter((m) => !m.learner);

/**
 * Which healthy voter removes the members asked to go: the etcd leader, unless it is one of them
 * (a drained leader), then the first other voter by name. One actor, so two agents never race
 * to remove the same member (a second removal would fail harmlessly, but noisily).
 */
export function removalActor(report: ControlPlaneReport, removals: readonly string[]): string | undefined {
  if (!report.leader || !report.members) return undefined;
  if (!removals.includes(report.leader)) return report.leader;
  return voters(report.members)
    .map((m) => m.name)
    .filter((n) => n !== '' && !removals.includes(n))
    .sort()[0];
}

export function decideRole(i: RoleInputs): RoleAction {
  const { report } = i;
  const isServer = report.role === 'server';

  // A healthy voter first serves the cluster: members asked to go are removed.
  if (isServer && report.healthy && report.members && removalActor(report, i.removals) === i.module) {
    const gone = report.members.find((m) => m.name !== '' && m.name !== i.module && i.removals.includes(m.name));
    if (gone) return { type: 'remove', member: { name: gone.name, id: gone.id }, reason: `${gone.name} is marked for removal` };
    // The same one voter promotes a learner as soon as etcd accepts it, rather than on K3s's own
    // 15 s check; a learner never changes the quorum until promoted, and etcd refuses one that
    // has not caught up with the leader, whatever this voter's view.
    const learner = i.promotesLearners ? report.members.find((m) => m.learner) : undefined;
    if (learner) return { type: 'promote-learner', member: { name: learner.name, id: learner.id }, reason: `${learner.name || learner.id} is a learner` };
  }

  if (i.desired === 'server') {
    if (isServer && report.healthy) return { type: 'none' };
    if (!i.mayStartMember.ok) return { type: 'wait', reason: `not starting a member: ${i.mayStartMember.reason ?? 'vetoed'}` };
    if (!i.cluster || i.cluster.etcdEndpoints.length === 0) return { type: 'wait', reason: 'asked to serve, but no healthy server is reported to join' };
    return { type: 'promote', target: { etcdEndpoints: i.cluster.etcdEndpoints, apiServer: i.apiServer }, reason: 'desired role: server' };
  }

  if (i.desired === 'agent' && isServer) {
    // Never discard a member the cluster still counts on: its removal (by another agent) comes first.
    if (!i.cluster) return { type: 'wait', reason: 'asked to stop serving, but no healthy cluster is reported to confirm the member was removed' };
    if (i.cluster.members.some((m) => m.name === i.module)) return { type: 'wait', reason: 'asked to stop serving: waiting for the member to be removed' };
    return { type: 'demote', reason: 'desired role: agent, and the member is no longer in the cluster' };
  }

  if (isServer && !report.running) {
    // Back after a power-off or a crash: the live cluster, never the module's own data, says
    // whether its member still belongs (a replaced module must not rejoin with stale data).
    if (!i.cluster) return { type: 'wait', reason: 'member stopped and no healthy cluster answers: waiting (quorum-loss recovery decides)' };
    if (!i.cluster.members.some((m) => m.name === i.module)) return { type: 'demote', reason: 'replaced while away: the cluster no longer lists this member' };
    if (!i.mayStartMember.ok) return { type: 'wait', reason: `not restarting the member: ${i.mayStartMember.reason ?? 'vetoed'}` };
    return { type: 'restart', reason: 'still a member of the cluster' };
  }

  return { type: 'none' };
}

/**
 * The cluster as other modules' fresh reports show it: the member list of a healthy voter and the
 * client URLs of every voter that reported healthy. Undefined when none did.
 */
export function clusterView(reports: readonly { module: string; report: ControlPlaneReport }[], self: string): ClusterView | undefined {
  const healthy = reports.filter((r) => r.module !== self && r.report.role === 'server' && r.report.healthy && r.report.members);
  if (healthy.length === 0) return undefined;
  const healthyNames = new Set(healthy.map((r) => r.module));
  const members = [...healthy].sort((a, b) => (b.report.raftIndex ?? 0) - (a.report.raftIndex ?? 0))[0]!.report.members!;
  const etcdEndpoints = voters(members)
    .filter((m) => healthyNames.has(m.name))
    .flatMap((m) => m.clientURLs);
  return { members, etcdEndpoints };
}
