import type { ControlPlaneReport, MemberInfo } from '../../contract/role-driver.js';
import { nodeOfModule } from '../../apply/node-plan.js';
import { majorityOf } from '../../base/majority.js';
import { assess, isFresh, isHealthy, type Observed } from '../decide.js';
import { fenceMethodOf, type ObservedNode } from '../model.js';
import { CONTROL_PLANE_ANNOTATIONS as A, parseRoleChange, type DesiredRole, type RoleChange } from '../../contract/control-plane.js';

/**
 * What the guardian sees of the control plane, derived from the same observed state as decide()
 * plus the agents' control-plane reports. Pure. Failure detection is decide's (`assess`: a
 * quorum of other agents' fresh views and a stale node Lease), never a rule of its own.
 */

/** One agent Lease's `edgebox.dev/control-plane` report, with the Lease's freshness. */
export interface ModuleReport {
  module: string;
  renewTime: number | null;
  durationSeconds: number;
  /** When the controller saw the Lease's last renewal (its monotonic clock). */
  observedAt: number | null;
  report: ControlPlaneReport;
}

export interface GuardianObserved extends Observed {
  reports: ModuleReport[];
}

export interface VoterView {
  module: string;
  memberId: string;
  /** Its own fresh report says its member runs and is healthy, and no quorum of witnesses declares it failed. */
  healthy: boolean;
  /** Confirmed failed (decide's rule) or fenced: a candidate for removal. */
  dead: boolean;
}

export interface ModuleView {
  module: string;
  node: ObservedNode | undefined;
  /** The report of a fresh agent Lease, if any. */
  report: ControlPlaneReport | undefined;
  /** Reachable, Ready, node Lease fresh (decide's isHealthy) and its agent reports. */
  healthy: boolean;
  /** decide's quorum-of-witnesses rule says failed, or decide fenced it. */
  dead: boolean;
  desiredRole: DesiredRole | undefined;
  etcdRemove: boolean;
  drain: boolean;
  change: RoleChange | undefined;
}

export interface ControlPlaneView {
  /** The member list of the healthiest source, or undefined when no fresh healthy report lists members. */
  members: MemberInfo[] | undefined;
  /** The module whose report gave the member list. */
  source: string | undefined;
  leader: string | null;
  voters: VoterView[];
  learners: string[];
  healthyVoters: number;
  /** A majority of the voters is healthy: etcd, and so the API, can take writes. */
  quorum: boolean;
  modules: ModuleView[];
  /** Modules listed as members by any fresh report of a healthy member, with who lists them. */
  listedBy: Record<string, string[]>;
}

const byName = <T extends { module: string }>(a: T, b: T) => a.module.localeCompare(b.module);

/**
 * The member list to trust: from fresh reports of healthy members, the etcd leader's own report
 * first (it is the one that commits membership changes), then the highest raft index, then the
 * name. Deterministic whatever the order of the reports.
 */
function sourceReport(fresh: readonly ModuleReport[]): ModuleReport | undefined {
  const listing = fresh.filter((r) => r.report.healthy && r.report.members !== undefined);
  const selfLeader = (r: ModuleReport) => (r.report.leader === r.module ? 1 : 0);
  return [...listing].sort(
    (a, b) => selfLeader(b) - selfLeader(a) || (b.report.raftIndex ?? -1) - (a.report.raftIndex ?? -1) || a.module.localeCompare(b.module),
  )[0];
}

export function controlPlaneView(o: GuardianObserved): ControlPlaneView {
  const fresh = o.reports.filter((r) => isFresh(r, o.mono)).sort(byName);
  const src = sourceReport(fresh);
  const members = src?.report.members;
  const modules: ModuleView[] = o.box.spec.modules.map((m) => {
    const node = nodeOfModule(
      o.nodes.map((n) => ({ metadata: { name: n.name, labels: n.labels } })),
      m.name,
    );
    const n = node ? o.nodes.find((x) => x.name === node.metadata.name) : undefined;
    const a = assess(o, m.name, n?.name);
    const report = fresh.find((r) => r.module === m.name)?.report;
    const desired = n?.annotations[A.desiredRole];
    return {
      module: m.name,
      node: n,
      report,
      healthy: n !== undefined && report !== undefined && isHealthy(n, a),
      dead: a.failed || (n !== undefined && fenceMethodOf(n) !== undefined),
      desiredRole: desired === 'server' || desired === 'agent' ? desired : undefined,
      etcdRemove: n?.annotations[A.etcdRemove] === 'true',
      drain: n?.annotations[A.drain] !== undefined,
      change: parseRoleChange(n?.annotations[A.change]),
    };
  });
  const voters: VoterView[] = (members ?? [])
    .filter((x) => !x.learner)
    .map((x) => {
      const mv = modules.find((v) => v.module === x.name);
      const r = mv?.report;
      return {
        module: x.name,
        memberId: x.id,
        healthy: r !== undefined && r.role === 'server' && r.running && r.healthy && !mv!.dead,
        dead: mv === undefined || mv.dead,
      };
    })
    .sort(byName);
  const healthyVoters = voters.filter((v) => v.healthy).length;
  // A report may lag its Lease's renewal by one write: a change is done only when no fresh
  // report still lists the member, and a module is unknown to the cluster only when none lists it.
  const listedBy: Record<string, string[]> = {};
  for (const r of fresh) {
    if (!r.report.healthy) continue;
    for (const x of r.report.members ?? []) (listedBy[x.name] ??= []).push(r.module);
  }
  return {
    listedBy,
    members,
    source: src?.module,
    leader: src?.report.leader ?? null,
    voters,
    learners: (members ?? [])
      .filter((x) => x.learner)
      .map((x) => x.name)
      .sort(),
    healthyVoters,
    quorum: voters.length > 0 && healthyVoters >= majorityOf(voters.length),
    modules,
  };
}

export const isMember = (v: ControlPlaneView, module: string) => (v.members ?? []).some((x) => x.name === module);
