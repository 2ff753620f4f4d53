import { majorityOf } from '../../base/majority.js';
import { rankCandidates } from './candidates.js';
import { planControlPlane } from './plan.js';
import type { GuardianObserved } from './view.js';

/**
 * `edgebox drain <module>`: whether moving the module's server role away is safe now, and how.
 * Pure, on the same observed state and rules as the guardian, which does the moving (promote a
 * replacement, wait until it votes, then remove and demote the drained module): the command
 * only asks for it, so a drain and a failure never race two writers of the membership.
 */

export type DrainRefusal =
  'drain.unknown-module' | 'drain.control-plane-unknown' | 'drain.quorum-lost' | 'drain.change-pending' | 'drain.voter-unhealthy' | 'drain.no-replacement';

export type DrainPlan =
  | {
      ok: true;
      module: string;
      /** It is a voter: its role moves. False: only the cordon (it serves nothing). */
      server: boolean;
      /** The module that takes its place (absent when the box has voters to spare). */
      replacement?: string;
      /** Already asked for earlier: the command only waits. */
      alreadyDraining: boolean;
      steps: string[];
    }
  | { ok: false; module: string; code: DrainRefusal; reason: string; hint: string };

export function planDrain(o: GuardianObserved, module: string): DrainPlan {
  const refuse = (code: DrainRefusal, reason: string, hint: string): DrainPlan => ({ ok: false, module, code, reason, hint });
  if (!o.box.spec.modules.some((m) => m.name === module)) {
    return refuse(
      'drain.unknown-module',
      `${module} is no module of box ${o.box.metadata.name}`,
      `one of: ${o.box.spec.modules.map((m) => m.name).join(', ')}`,
    );
  }
  const plan = planControlPlane(o);
  const { view } = plan;
  const mv = view.modules.find((m) => m.module === module)!;
  const cordon = `cordon ${mv.node?.name ?? module} (no new pods; running workloads stay: evict them with \`kubectl drain\` if the maintenance needs it)`;
  if (view.members === undefined) {
    return refuse(
      'drain.control-plane-unknown',
      'no healthy server reports its etcd member list, so a drain cannot be checked',
      'check that the agents run with a role driver (`edgebox status` shows the voters)',
    );
  }
  const voter = view.voters.some((v) => v.module === module);
  if (!voter && !view.learners.includes(module)) {
    return { ok: true, module, server: false, alreadyDraining: mv.drain, steps: [cordon, `${module} is no etcd member: no server role to move`] };
  }
  if (!view.quorum) {
    return refuse(
      'drain.quorum-lost',
      `the control plane has no quorum (${view.healthyVoters} of ${view.voters.length} voters healthy)`,
      'wait for the agents to recover it; drain nothing before',
    );
  }
  if (mv.drain && mv.desiredRole !== undefined) {
    return {
      ok: true,
      module,
      server: true,
      alreadyDraining: true,
      steps: [cordon, `the drain of ${module} is under way: ${plan.pending ? `${plan.pending.type} of ${plan.pending.module}` : 'finishing'}`],
    };
  }
  if (plan.inFlight) {
    return refuse(
      'drain.change-pending',
      `another control-plane change is in progress: ${plan.inFlight.type} of ${plan.inFlight.module}${plan.inFlight.reason ? ` (${plan.inFlight.reason})` : ''}`,
      'wait until `edgebox status` shows no pending change, then drain again',
    );
  }
  const unhealthy = view.voters.filter((v) => !v.healthy && v.module !== module).map((v) => v.module);
  if (unhealthy.length > 0) {
    return refuse(
      'drain.voter-unhealthy',
      `voter(s) ${unhealthy.join(', ')} already unhealthy: taking ${module} out as well could stop the API`,
      `bring ${unhealthy.join(', ')} back first (or let the guardian replace ${unhealthy.length === 1 ? 'it' : 'them'})`,
    );
  }
  const v = view.voters.length;
  const n = o.box.spec.controlPlane.servers;
  const best = rankCandidates(o, view, new Set([module]))[0];
  if (v > n) {
    return {
      ok: true,
      module,
      server: true,
      alreadyDraining: mv.drain,
      steps: [cordon, `remove ${module}'s etcd member and demote it to an agent (${v} voters, ${n} wanted: none needs to replace it)`],
    };
  }
  if (!best) {
    const left = v - 1;
    return refuse(
      'drain.no-replacement',
      `no module can take ${module}'s server role: draining it would leave ${left} voter(s), ${left === 0 ? 'and no API' : `with a quorum of ${majorityOf(left)} that ${left - majorityOf(left) === 0 ? 'survives no further failure' : 'is smaller than asked'}`} (spec.controlPlane.servers: ${n})`,
      'make another module eligible (roles: [server, agent], healthy, not drained or fenced), or lower spec.controlPlane.servers',
    );
  }
  return {
    ok: true,
    module,
    server: true,
    replacement: best.module,
    alreadyDraining: mv.drain,
    steps: [
      cordon,
      `promote ${best.module} (learner, then voter): ${v + 1} voters for the time of the move`,
      `remove ${module}'s etcd member and demote it to an agent once ${best.module} votes: back to ${v}`,
    ],
  };
}
