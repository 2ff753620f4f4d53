import { meetsServerMinimum } from '../catalog/reserve.js';
import type { Severity } from '../diagnostics/diagnostic.js';
import { hardwareOf } from '../spec/derive.js';
import { ACCELERATOR_TAINT } from '../contract/labels.js';
import { formatBytes, formatMillis } from '../spec/quantity.js';
import type { BoxSpec, Criticality } from '../spec/schema.js';
import type { ControlPlanePlan, Finding, Scenario, UnplacedReason, UnplacedWorkload } from './model.js';
import type { CompiledWorkload, PlacementModel } from './placement.js';

export interface FindingInput {
  box: BoxSpec;
  model: PlacementModel;
  controlPlane: ControlPlanePlan;
  /** Per workload index, initial replica modules and capable modules. */
  replicas: number[][];
  capable: number[][];
  initialUnplaced: UnplacedWorkload[];
  scenarios: Scenario[];
}

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/**
 * Severity policy (docs/plan.md): error when the box cannot run as specified or a single
 * failure leaves a critical workload with no host at all; warning for other single-failure
 * losses of critical and standard workloads and control-plane weaknesses; info for best-effort
 * workloads and for what only a second failure breaks. One finding per (code, subject), never
 * one per scenario.
 */
export function planFindings(input: FindingInput): Finding[] {
  const { box, model, controlPlane, scenarios } = input;
  const findings: Finding[] = [];
  const add = (severity: Severity, code: string, subjects: string[], message: string, hint: string) =>
    findings.push({ severity, code, message, hint, subjects });
  const names = (ms: readonly number[]) => ms.map((m) => model.moduleNames[m]!);
  const singles = scenarios.filter((s) => s.failed.length === 1);
  const pairs = scenarios.filter((s) => s.failed.length === 2);

  // Control plane.
  const { servers, quorum, failuresTolerated, promotable } = controlPlane;
  if (failuresTolerated === 0) {
    const lost = singles.filter((s) => !s.quorumKept);
    const unrestorable = lost.some((s) => !s.restorable);
    add(
      'warning',
      'plan.quorum-single-failure',
      [...servers],
      `the control plane has ${servers.length} server(s) (quorum ${quorum}): losing ${list(lost.map((s) => s.failed[0]!))} stops the API` +
        (unrestorable ? ' and loses the etcd data with it, so only a human can rebuild the cluster' : ''),
      'set spec.controlPlane.servers: 3 (it needs 3 modules that may take the server role) so the box survives any single failure',
    );
  }
  if (servers.length > 1 && promotable.length === 0) {
    const candidates = box.spec.modules.filter((m) => !m.roles.includes('server') && meetsServerMinimum(hardwareOf(m))).map((m) => m.name);
    add(
      'warning',
      'plan.no-promotable-module',
      [...servers],
      `every server-eligible module is already a server: after a server fails the control plane cannot get back to ${servers.length} voters, and a second server failure stops the API`,
      candidates.length
        ? `add 'server' to the roles of ${list(candidates)} so it can be promoted`
        : 'add a module with at least 2 cores and 2 GB that may take the server role',
    );
  } else if (promotable.length > 0) {
    const reduced = pairs.filter((s) => s.restorable && s.votersAfterRestore < servers.length);
    if (reduced.length > 0) {
      const fewest = Math.min(...reduced.map((s) => s.votersAfterRestore));
      add(
        'info',
        'plan.n2-voters-reduced',
        [...servers, ...promotable],
        `${reduced.length} of ${pairs.length} module pairs leave too few server-eligible modules: the control plane can then be restored with only ${fewest} voter(s) of ${servers.length}, e.g. after losing ${reduced[0]!.failed.join(' and ')}`,
        `make another module server-eligible (roles: [server, agent]) so two failures still leave ${servers.length} voters`,
      );
    }
  }

  // Workloads.
  const initiallyShort = new Map(input.initialUnplaced.map((u) => [u.workload, u]));
  const unplacedIn = (ss: Scenario[], name: string) => ss.flatMap((s) => s.unplaced.filter((u) => u.workload === name).map((u) => ({ scenario: s, u })));
  for (const w of model.workloads) {
    const name = w.spec.name;
    const capable = input.capable[w.index]!;
    const short = initiallyShort.get(name);
    if (short) {
      add(
        'error',
        'plan.initial-placement-failed',
        [name, ...names(capable)],
        `${name} cannot be placed even with every module up: ${short.missingReplicas} of ${short.wantedReplicas} replica(s) unplaced (${REASON_TEXT[short.reason]})`,
        fixHint(w, short.reason, capable, 'run'),
      );
      continue;
    }
    if (w.spec.kind !== 'daemonset' && w.spec.replicas === 0) continue;

    const hosts = new Set(input.replicas[w.index]);
    const placed = input.replicas[w.index]!.length;
    if (!w.perModule && w.exclusive.length === 0 && placed > 1 && hosts.size < Math.min(placed, capable.length)) {
      add(
        'info',
        'plan.replicas-colocated',
        [name, ...names([...hosts])],
        `${name}'s ${placed} replicas share ${list(names([...hosts]))} although ${capable.length} modules could host it: losing one of them stops several replicas at once`,
        `free room on ${list(names(capable.filter((m) => !hosts.has(m))))} or lower ${name}'s requests so its replicas can spread`,
      );
    }

    const hostOnly = capable.length === 1 ? capable[0]! : undefined;
    const host = hostOnly !== undefined ? model.moduleNames[hostOnly]! : undefined;
    if (hostOnly !== undefined && host !== undefined) {
      const only = onlyPeripheral(w, hostOnly);
      const req = requirementText(w, { size: false, peripherals: false });
      add(
        bySeverity(w.spec.criticality, 'error', 'warning', 'info'),
        'plan.single-host',
        [name, host, ...(only ? [only] : [])],
        `${name} can only run on ${host}: losing ${host} leaves it with no host`,
        only
          ? `${only} is wired only to ${host}: attach it to a second module${req ? ` ${req}` : ''} so ${name} can fail over`
          : `${name} can only run on ${host}: ${moduleHint(w, 'a second module', 'fail over')}`,
      );
    }
    const n1 = unplacedIn(singles, name).filter(({ scenario }) => scenario.failed[0] !== host);
    if (n1.length > 0) {
      const noHost = n1.some(({ u }) => u.missingReplicas === u.wantedReplicas);
      const worst = n1.reduce((a, b) => (b.u.missingReplicas > a.u.missingReplicas ? b : a));
      const severity = w.spec.criticality === 'critical' ? (noHost ? 'error' : 'warning') : bySeverity(w.spec.criticality, 'warning', 'warning', 'info');
      const lost = n1.map(({ scenario }) => scenario.failed[0]!);
      add(
        severity,
        'plan.n1-unplaced',
        [name, ...lost],
        `losing ${list(lost, 'or')} leaves ${name} with ${worst.u.missingReplicas} of ${worst.u.wantedReplicas} replica(s) unplaced (${REASON_TEXT[worst.u.reason]})`,
        fixHint(w, worst.u.reason, capable, 'fail over'),
      );
    }
    // A workload already reported for one failure needs no second report for two.
    if (host !== undefined || n1.length > 0) continue;
    const n2 = unplacedIn(pairs, name);
    if (n2.length > 0) {
      const first = n2[0]!;
      const involved = names(
        modulesInOrder(
          model,
          n2.map(({ scenario }) => scenario.failed),
        ),
      );
      add(
        bySeverity(w.spec.criticality, 'warning', 'info', 'info'),
        'plan.n2-unplaced',
        [name, ...involved],
        `${n2.length} of ${pairs.length} module pairs leave ${name} short, e.g. losing ${first.scenario.failed.join(' and ')} leaves ${first.u.missingReplicas} of ${first.u.wantedReplicas} replica(s) unplaced (${REASON_TEXT[first.u.reason]})`,
        fixHint(w, first.u.reason, capable, 'survive two failures'),
      );
    }
  }

  // Peripherals.
  for (const p of model.exclusive) {
    if (p.attached.length !== 1) continue;
    const host = model.moduleNames[p.attached[0]!]!;
    const users = model.workloads.filter((w) => w.spec.peripherals.includes(p.name)).map((w) => w.spec.name);
    add(
      users.length ? 'warning' : 'info',
      'plan.peripheral-single-module',
      [p.name, host, ...users],
      `exclusive peripheral ${p.name} is attached only to ${host}: losing ${host} orphans it${users.length ? `, stopping ${list(users)}` : ''}`,
      `wire ${p.name} to a second module as well and list it in attachedTo`,
    );
  }

  return findings.sort(
    (a, b) =>
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.code.localeCompare(b.code) || (a.subjects[0] ?? '').localeCompare(b.subjects[0] ?? ''),
  );

  /** The peripheral that alone pins a workload to one module, if any. */
  function onlyPeripheral(w: CompiledWorkload, host: number): string | undefined {
    return w.spec.peripherals.find((p) => {
      const spec = box.spec.peripherals.find((q) => q.name === p);
      return spec !== undefined && spec.attachedTo.length === 1 && spec.attachedTo[0] === model.moduleNames[host];
    });
  }

  /** "a second module with gpu.cuda would let detector-a fail over", naming modules its tolerations keep it off. */
  function moduleHint(w: CompiledWorkload, what: string, goal: string): string {
    const req = requirementText(w, { size: true, peripherals: true });
    const blocked = w.taintBlocked.length
      ? `; ${list(names(w.taintBlocked))} ${w.taintBlocked.length === 1 ? 'is' : 'are'} kept for accelerator workloads (taint ${ACCELERATOR_TAINT}), so ${w.spec.name} would have to ask for an accelerator capability to use ${w.taintBlocked.length === 1 ? 'it' : 'them'}`
      : '';
    return `${what}${req ? ` ${req}` : ''} would let ${w.spec.name} ${goal}${blocked}`;
  }

  function fixHint(w: CompiledWorkload, reason: UnplacedReason, capable: number[], goal: string): string {
    const name = w.spec.name;
    if (reason === 'peripheral-conflict') {
      return `workloads sharing an exclusive peripheral run together on its one owner: attach ${list(w.spec.peripherals)} to a module with room for all of them, or split the peripherals`;
    }
    if (reason === 'insufficient-capacity' && capable.length > 0) {
      const req = requirementText(w, { size: true, peripherals: true });
      return `free room on ${list(names(capable))}, lower ${name}'s requests or replicas, or add a module${req ? ` ${req}` : ''} so it can ${goal}`;
    }
    if (reason === 'taint-blocked') {
      return `${list(names(w.taintBlocked))} ${w.taintBlocked.length === 1 ? 'is' : 'are'} kept for accelerator workloads (taint ${ACCELERATOR_TAINT}): set spec.placement.acceleratorTaint: false, or let ${name} ask for an accelerator capability`;
    }
    return moduleHint(w, 'a module', goal);
  }
}

const REASON_TEXT: Record<UnplacedReason, string> = {
  'no-capable-module': 'no capable module',
  'taint-blocked': 'the accelerator taint keeps it off the modules that could host it',
  'insufficient-capacity': 'not enough free CPU or memory',
  'peripheral-conflict': 'its exclusive peripheral is owned by a module that cannot host it',
};

function bySeverity(c: Criticality, critical: Severity, standard: Severity, bestEffort: Severity): Severity {
  return c === 'critical' ? critical : c === 'standard' ? standard : bestEffort;
}

/** "with gpu.cuda, attached to front-camera and room for 1 CPU and 2Gi memory": what a host needs. */
function requirementText(w: CompiledWorkload, include: { size: boolean; peripherals: boolean }): string {
  const parts: string[] = [];
  if (w.spec.requires.capabilities.length) parts.push(`with ${w.spec.requires.capabilities.join(' and ')}`);
  if (include.peripherals && w.spec.peripherals.length) parts.push(`attached to ${w.spec.peripherals.join(' and ')}`);
  if (include.size && (w.cpu > 0 || w.mem > 0)) {
    parts.push(`room for ${[w.cpu > 0 ? `${formatMillis(w.cpu)} CPU` : '', w.mem > 0 ? `${formatBytes(w.mem)} memory` : ''].filter(Boolean).join(' and ')}`);
  }
  if (parts.length === 0) return '';
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]!}`;
}

/** The distinct modules of some failure sets, in spec order. */
function modulesInOrder(model: PlacementModel, sets: string[][]): number[] {
  const seen = new Set(sets.flat());
  return model.moduleNames.flatMap((n, i) => (seen.has(n) ? [i] : []));
}

function list(items: readonly string[], conjunction = 'and'): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} ${conjunction} ${items[items.length - 1]!}`;
}
