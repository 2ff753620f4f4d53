import type { NodePatch } from '../decide.js';
import { rankCandidates, type Candidate } from './candidates.js';
import { CONTROL_PLANE_ANNOTATIONS as A, formatRoleChange, type RoleChange } from '../../contract/control-plane.js';
import { controlPlaneView, isMember, type ControlPlaneView, type GuardianObserved, type ModuleView } from './view.js';
import type { HistoryType, HistoryEntry, PendingChange } from '../../contract/edgebox-status.js';

/**
 * The guardian's pure core (docs/decisions/0002-control-plane.md): the observed box and the
 * agents' control-plane reports in, the node annotations that move the control plane one step
 * towards `spec.controlPlane.servers` healthy voters out. No I/O, no clock, no memory: the change
 * in progress lives on its module's Node (`edgebox.dev/role-change`), so a new leader continues it.
 *
 * Rules:
 *  - nothing while the member list is unknown or the voters have no quorum (the agents handle a
 *    quorum loss: src/agent);
 *  - one membership change at a time: a promotion (learner, then voter), a removal, or a
 *    demotion; bookkeeping (completing a change, telling a returning module to stay an agent)
 *    is no membership change and may happen alongside;
 *  - a dead voter (decide's quorum-of-witnesses rule, or fenced) is removed first, then a
 *    replacement is promoted; a change that makes the voter count even is started only when the
 *    change that makes it odd again can follow (a candidate exists), so it is even for at most
 *    one change;
 *  - a drained voter is replaced before it is demoted; more voters than asked: one is demoted.
 */

/** How long a promotion may take before it is given up (the learner's catch-up and the API server's start included). */
export const PROMOTION_TIMEOUT_MS = 120_000;
export type GuardianAction =
  /** A dead voter: ask the agents of the healthy servers to remove its member. */
  | { type: 'remove-member'; module: string; reason: string; patch: NodePatch }
  /** Ask the module's agent to join as a learner, start serving and become a voter. */
  | { type: 'promote'; module: string; reason: string; patch: NodePatch }
  /** A live voter gives up its role (drain, or more voters than asked): remove its member, demote it. */
  | { type: 'demote'; module: string; reason: string; patch: NodePatch }
  /** A module runs as a server but is no member (it was replaced while away): it resets and stays an agent. */
  | { type: 'reset-returned'; module: string; reason: string; patch: NodePatch }
  /** A change ended (or was given up): the node's annotations are cleared and the history gets an entry. */
  | { type: 'complete'; module: string; patch: NodePatch; history: HistoryEntry };

export interface GuardianPlan {
  view: ControlPlaneView;
  /** spec.controlPlane.servers: the voters to keep. */
  servers: number;
  actions: GuardianAction[];
  /** The membership change in progress after these actions, or null. */
  pending: PendingChange | null;
  /** The membership change that was already under way before this plan (asked for earlier), or null. */
  inFlight: PendingChange | null;
  /** Why nothing is done although the box is short of healthy voters, or what is under way. */
  message?: string;
}

const iso = (t: number) => new Date(t).toISOString();

function patchOf(mv: ModuleView, annotations: Record<string, string | null>): NodePatch {
  return { node: mv.node!.name, resourceVersion: mv.node!.resourceVersion, annotations };
}

function complete(o: GuardianObserved, mv: ModuleView, type: HistoryType, reason: string, annotations: Record<string, string | null>): GuardianAction {
  const history: HistoryEntry = { at: iso(o.now), type, module: mv.module, reason, ...(mv.change ? { durationMs: Math.max(0, o.now - mv.change.at) } : {}) };
  return { type: 'complete', module: mv.module, patch: patchOf(mv, annotations), history };
}

const change = (o: GuardianObserved, type: RoleChange['type'], reason: string) => formatRoleChange({ type, at: o.now, reason });

const pendingOf = (type: RoleChange['type'], mv: ModuleView, reason?: string): PendingChange => ({
  type,
  module: mv.module,
  reason: reason ?? mv.change?.reason ?? '',
  ...(mv.change ? { since: iso(mv.change.at) } : {}),
});

/**
 * The changes in flight (read from the nodes' annotations and the member list) and the
 * bookkeeping of those that ended.
 */
function track(o: GuardianObserved, view: ControlPlaneView): { actions: GuardianAction[]; inFlight: PendingChange[] } {
  const actions: GuardianAction[] = [];
  const inFlight: PendingChange[] = [];
  const clear = { [A.desiredRole]: null, [A.etcdRemove]: null, [A.change]: null };
  for (const mv of view.modules) {
    if (!mv.node) continue;
    const listed = (view.listedBy[mv.module] ?? []).length > 0;
    const member = isMember(view, mv.module) || listed;
    if (mv.desiredRole === 'server') {
      const voter = view.voters.find((v) => v.module === mv.module);
      if (voter?.healthy) {
        actions.push(complete(o, mv, 'promote', mv.change?.reason ?? 'promoted', { [A.desiredRole]: null, [A.change]: null }));
      } else if (mv.dead || (mv.change !== undefined && o.now - mv.change.at > PROMOTION_TIMEOUT_MS)) {
        // Given up: a learner or voter it became is removed like a dead member, and the module
        // is told to stay an agent, so it never serves with half a join behind it.
        const why = mv.dead
          ? `${mv.module} failed while being promoted`
          : `${mv.module} did not become a healthy voter within ${PROMOTION_TIMEOUT_MS / 1000} s`;
        actions.push(
          complete(
            o,
            mv,
            'cancel',
            why,
            member
              ? { [A.desiredRole]: 'agent', [A.etcdRemove]: 'true', [A.change]: change(o, 'remove', why) }
              : { [A.desiredRole]: 'agent', [A.etcdRemove]: null, [A.change]: null },
          ),
        );
        if (member) inFlight.push({ type: 'remove', module: mv.module, reason: why, since: iso(o.now) });
      } else {
        inFlight.push(pendingOf('promote', mv));
      }
    } else if (mv.etcdRemove) {
      if (member) inFlight.push(pendingOf(mv.change?.type === 'demote' ? 'demote' : 'remove', mv));
      else if (mv.change?.type === 'demote') {
        // A drained voter: its member is gone; it is done when it says it runs as an agent.
        if (mv.report?.role === 'agent') actions.push(complete(o, mv, 'demote', mv.change.reason, clear));
      } else {
        // Removed. It stays told to be an agent: when it returns it discards its old data.
        actions.push(complete(o, mv, 'remove', mv.change?.reason ?? 'member removed', { [A.etcdRemove]: null, [A.change]: null, [A.desiredRole]: 'agent' }));
      }
    } else if (mv.desiredRole === 'agent') {
      if (member) inFlight.push(pendingOf('demote', mv));
      else if (mv.report?.role === 'agent') {
        actions.push(
          complete(
            o,
            mv,
            mv.change?.type === 'demote' ? 'demote' : 'reset',
            mv.change?.reason ?? `${mv.module} returned after being replaced: its old etcd data was discarded and it runs as an agent`,
            clear,
          ),
        );
      }
    }
  }
  // A learner nobody asked for is a join under way all the same.
  for (const l of view.learners) {
    if (!inFlight.some((c) => c.module === l)) inFlight.push({ type: 'promote', module: l, reason: `${l} is an etcd learner` });
  }
  return { actions, inFlight: inFlight.sort((a, b) => a.module.localeCompare(b.module)) };
}

/** Modules that serve but are members of no cluster the others know: replaced while they were away. */
function returned(o: GuardianObserved, view: ControlPlaneView): GuardianAction[] {
  return view.modules.flatMap((mv) => {
    if (!mv.node || !mv.report || mv.report.role !== 'server' || !mv.report.running) return [];
    if (mv.desiredRole !== undefined || mv.etcdRemove || isMember(view, mv.module)) return [];
    if ((view.listedBy[mv.module] ?? []).some((by) => by !== mv.module)) return [];
    const reason = `${mv.module} serves but is no member of the cluster (it was replaced while away): it resets and rejoins as an agent`;
    return [
      { type: 'reset-returned' as const, module: mv.module, reason, patch: patchOf(mv, { [A.desiredRole]: 'agent', [A.change]: change(o, 'demote', reason) }) },
    ];
  });
}

/** The one membership change to start now, or why none. */
type MembershipAction = Exclude<GuardianAction, { type: 'complete' | 'reset-returned' }>;

function next(o: GuardianObserved, view: ControlPlaneView): { action?: MembershipAction; message?: string } {
  const n = o.box.spec.controlPlane.servers;
  const v = view.voters.length;
  const mvOf = (m: string) => view.modules.find((x) => x.module === m);
  const candidates: Candidate[] = rankCandidates(o, view);
  const promote = (c: Candidate, reason: string): MembershipAction => {
    const mv = mvOf(c.module)!;
    return { type: 'promote', module: c.module, reason, patch: patchOf(mv, { [A.desiredRole]: 'server', [A.change]: change(o, 'promote', reason) }) };
  };
  const demote = (mv: ModuleView, reason: string): MembershipAction => ({
    type: 'demote',
    module: mv.module,
    reason,
    patch: patchOf(mv, { [A.desiredRole]: 'agent', [A.etcdRemove]: 'true', [A.change]: change(o, 'demote', reason) }),
  });

  const dead = view.voters.filter((x) => !x.healthy && x.dead && mvOf(x.module)?.node !== undefined);
  const flaky = view.voters.filter((x) => !x.healthy && !x.dead).map((x) => x.module);
  if (dead.length > 0) {
    const d = dead[0]!;
    // From an odd count, removing makes it even: only when the change that makes it odd again
    // can follow (another removal, a promotion, or a demotion of a voter too many).
    const followUp = dead.length > 1 || (flaky.length === 0 && (candidates.length > 0 || v - 1 > n));
    if ((v - 1) % 2 === 0 && !followUp) {
      return {
        message: `${d.module} failed and ${flaky.length ? `voter(s) ${flaky.join(', ')} are not healthy either` : 'no module is eligible to replace it'}: its member is kept, so the module can rejoin when it returns`,
      };
    }
    const reason = `${d.module} failed (confirmed by the other agents' views): its etcd member is removed so a replacement can join`;
    const mv = mvOf(d.module)!;
    return {
      action: { type: 'remove-member', module: d.module, reason, patch: patchOf(mv, { [A.etcdRemove]: 'true', [A.change]: change(o, 'remove', reason) }) },
    };
  }
  if (flaky.length > 0) {
    return {
      message: `voter(s) ${flaky.join(', ')} not healthy but not confirmed failed: no membership change until they recover or a quorum of agents confirms the failure`,
    };
  }
  const drained = view.voters.filter((x) => mvOf(x.module)?.drain).map((x) => mvOf(x.module)!);
  if (v > n) {
    const victim =
      drained[0] ??
      [...view.voters]
        .filter((x) => x.module !== view.leader)
        .map((x) => mvOf(x.module))
        .filter((x): x is ModuleView => x?.node !== undefined)
        .sort((a, b) => b.module.localeCompare(a.module))[0];
    if (victim?.node) {
      return {
        action: demote(
          victim,
          drained[0]
            ? `${victim.module} is drained: its replacement is a voter, so it gives up its member`
            : `${v} voters, ${n} asked for (spec.controlPlane.servers): ${victim.module} gives up its member`,
        ),
      };
    }
  }
  if (v < n) {
    // From an odd count, the promotion that makes it even needs a second one behind it.
    const needed = v % 2 === 1 ? Math.min(2, n - v) : 1;
    if (candidates.length < needed) {
      return {
        message: `${v} of ${n} voters and ${candidates.length === 0 ? 'no module is' : 'only one module is'} eligible to become a server${v % 2 === 1 && candidates.length === 1 ? ' (a second voter alone would make the count even)' : ''}`,
      };
    }
    return { action: promote(candidates[0]!, `${v} of ${n} voters: ${candidates[0]!.module} is the best eligible module`) };
  }
  if (drained.length > 0) {
    const d = drained[0]!;
    if (candidates.length === 0) return { message: `drain of ${d.module} waits: no module is eligible to take its server role` };
    return { action: promote(candidates[0]!, `drain of ${d.module}: ${candidates[0]!.module} takes its server role first`) };
  }
  return {};
}

export function planControlPlane(o: GuardianObserved): GuardianPlan {
  const plan = planSteps(o);
  return { ...plan, inFlight: plan.inFlight ?? null, servers: o.box.spec.controlPlane.servers };
}

function planSteps(o: GuardianObserved): Omit<GuardianPlan, 'servers' | 'inFlight'> & { inFlight?: PendingChange } {
  const view = controlPlaneView(o);
  if (view.members === undefined) {
    return { view, actions: [], pending: null, message: 'no healthy server reports its etcd member list (the agents publish it in their Leases)' };
  }
  if (!view.quorum) {
    return {
      view,
      actions: [],
      pending: null,
      message: `quorum lost: ${view.healthyVoters} of ${view.voters.length} voters healthy; the agents recover it (a survivor resets the cluster once the others are fenced)`,
    };
  }
  const { actions, inFlight } = track(o, view);
  actions.push(...returned(o, view));
  if (inFlight.length > 0) {
    const p = inFlight[0]!;
    return { view, actions, pending: p, inFlight: p, message: `${p.type} of ${p.module} in progress${p.reason ? `: ${p.reason}` : ''}` };
  }
  const { action, message } = next(o, view);
  if (!action) return { view, actions, pending: null, ...(message ? { message } : {}) };
  actions.push(action);
  const type = action.type === 'remove-member' ? 'remove' : action.type === 'promote' ? 'promote' : 'demote';
  return { view, actions, pending: { type, module: action.module, reason: action.reason, since: iso(o.now) }, message: action.reason };
}
