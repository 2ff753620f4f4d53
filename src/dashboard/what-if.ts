import { inputError } from '../diagnostics/diagnostic.js';
import type { Plan, UnplacedReason } from '../plan/model.js';
import type { BoxSpec } from '../spec/schema.js';
import type { WhatIfView } from './view.js';

const REASONS: Record<UnplacedReason, string> = {
  'no-capable-module': 'no surviving module is capable of it',
  'taint-blocked': 'the accelerator taint keeps it off the survivors that could host it',
  'insufficient-capacity': 'the capable survivors lack CPU, memory or pod slots',
  'peripheral-conflict': 'its exclusive peripheral is owned by a module that cannot host it',
};

/**
 * The plan's scenario for losing one or two modules, with what it means in words. Throws an
 * input error for an unknown module or a choice the plan has no scenario for. Pure.
 */
export function whatIf(box: BoxSpec, plan: Plan, modules: readonly string[]): WhatIfView {
  const names = box.spec.modules.map((m) => m.name);
  const unknown = modules.filter((m) => !names.includes(m));
  if (unknown.length) {
    throw inputError(
      'dashboard.unknown-module',
      `box '${box.metadata.name}' has no module ${unknown.map((m) => `'${m}'`).join(', ')}`,
      `modules: ${names.join(', ')}`,
    );
  }
  const chosen = names.filter((n) => modules.includes(n));
  if (chosen.length < 1 || chosen.length > 2) {
    throw inputError(
      'dashboard.what-if-size',
      `what-if takes one or two modules, not ${chosen.length}`,
      'pick one module, or two for a double failure (the plan covers every single and pair failure)',
    );
  }
  const s = plan.scenarios.find((x) => x.failed.length === chosen.length && x.failed.every((m, i) => m === chosen[i]))!;
  const { servers, quorum } = plan.controlPlane;
  const surviving = servers.filter((m) => !chosen.includes(m));
  const summary: string[] = [];
  const count = `${surviving.length} of ${servers.length} servers survive${surviving.length ? ` (${surviving.join(', ')})` : ''}; quorum is ${quorum}`;
  if (!s.restorable)
    summary.push(`Quorum lost and not restorable: ${count}. The etcd data is gone with them; a person must rebuild the control plane from a snapshot.`);
  else if (!s.quorumKept) summary.push(`Quorum lost: ${count}. The API stops until ${surviving[0]} resets the cluster to itself; restorable with no person.`);
  else summary.push(`Quorum kept: ${count}. The API keeps working.`);
  for (const u of s.unplaced) {
    summary.push(`${u.workload} loses ${u.missingReplicas} of ${u.wantedReplicas} replica${u.wantedReplicas === 1 ? '' : 's'}: ${REASONS[u.reason]}.`);
  }
  for (const p of s.orphanedPeripherals) summary.push(`${p} is orphaned: every module attached to it is lost.`);
  if (s.promoted.length)
    summary.push(`${s.promoted.join(' and ')} take${s.promoted.length === 1 ? 's' : ''} the server role to get back to ${s.votersAfterRestore} voters.`);
  if (!s.unplaced.length) summary.push('Every workload finds a host on the survivors.');
  return {
    failed: s.failed,
    quorumKept: s.quorumKept,
    restorable: s.restorable,
    quorum,
    survivingServers: surviving,
    votersAfterRestore: s.votersAfterRestore,
    promoted: s.promoted,
    unplaced: s.unplaced.map((u) => ({ workload: u.workload, reason: u.reason, missingReplicas: u.missingReplicas, wantedReplicas: u.wantedReplicas })),
    orphanedPeripherals: s.orphanedPeripherals,
    summary,
  };
}
