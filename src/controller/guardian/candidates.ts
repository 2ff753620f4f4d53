import { boardKey } from '../../catalog/power-boards.js';
import { allocatable, meetsServerMinimum } from '../../catalog/reserve.js';
import { hardwareOf } from '../../spec/derive.js';
import { memoryBytes } from '../../spec/quantity.js';
import type { ModuleSpec } from '../../spec/schema.js';
import type { GuardianObserved, ControlPlaneView, ModuleView } from './view.js';
import { isMember } from './view.js';

/**
 * Which module becomes a server next: the documented, deterministic rule of
 * docs/decisions/0002-control-plane.md ("Choosing a new server"). Pure.
 *
 * Eligible: the spec lets it serve (`roles` has server); it is healthy (decide's rule: Ready,
 * node Lease fresh, heard by the other agents) and its agent reports (its role loop is the one
 * that acts); it is no etcd member yet; it is not fenced, not failed, not being drained, and no
 * role change is asked of it.
 *
 * Ranked, best first:
 *  1. meets K3s's server minimum (2 cores, 2 GB): the same first rule as plan's ranking;
 *  2. fewest healthy voters in its power domain (same power driver and endpoint: one BMC, one
 *     supply), so one power fault does not take a majority;
 *  3. hosts no critical singleton (its restart would stall the one copy of something critical);
 *  4. most free memory: catalog memory minus the system and server reserves minus the memory
 *     requested by the box's workloads bound to it (a server needs 1.5 GB more than an agent);
 *  5. the name.
 */

export interface Candidate {
  module: string;
  serverMinimum: boolean;
  domainVoters: number;
  criticalSingleton: boolean;
  freeMemoryBytes: number;
}

/** A module's power domain: modules on one board (one power driver endpoint) fail together. */
function powerDomain(m: ModuleSpec): string {
  return m.power ? boardKey(m.power) : `module:${m.name}`;
}

function isEligible(m: ModuleSpec, mv: ModuleView, view: ControlPlaneView, exclude: ReadonlySet<string>): boolean {
  return (
    m.roles.includes('server') &&
    !exclude.has(m.name) &&
    mv.healthy &&
    !mv.dead &&
    mv.report !== undefined &&
    !isMember(view, m.name) &&
    !mv.drain &&
    mv.desiredRole === undefined &&
    !mv.etcdRemove
  );
}

export function rankCandidates(o: GuardianObserved, view: ControlPlaneView, exclude: ReadonlySet<string> = new Set()): Candidate[] {
  const specOf = new Map(o.box.spec.modules.map((m) => [m.name, m]));
  const workloads = new Map(o.box.spec.workloads.map((w) => [w.name, w]));
  const healthyVoterDomains = view.voters
    .filter((v) => v.healthy)
    .map((v) => specOf.get(v.module))
    .filter((m): m is ModuleSpec => m !== undefined)
    .map(powerDomain);
  const out: Candidate[] = [];
  for (const mv of view.modules) {
    const m = specOf.get(mv.module)!;
    if (!isEligible(m, mv, view, exclude)) continue;
    const hw = hardwareOf(m);
    const bound = o.pods.filter((p) => p.node !== undefined && p.node === mv.node?.name && !p.deleting);
    const specs = bound.map((p) => (p.workload === undefined ? undefined : workloads.get(p.workload)));
    const requested = specs.reduce((sum, w) => sum + (w ? memoryBytes(w.requires.memory) : 0), 0);
    out.push({
      module: m.name,
      serverMinimum: meetsServerMinimum(hw),
      domainVoters: healthyVoterDomains.filter((d) => d === powerDomain(m)).length,
      criticalSingleton: specs.some((w) => w !== undefined && w.singleton && w.criticality === 'critical'),
      freeMemoryBytes: allocatable(hw, 'server').memoryBytes - requested,
    });
  }
  return out.sort(
    (a, b) =>
      Number(b.serverMinimum) - Number(a.serverMinimum) ||
      a.domainVoters - b.domainVoters ||
      Number(a.criticalSingleton) - Number(b.criticalSingleton) ||
      b.freeMemoryBytes - a.freeMemoryBytes ||
      a.module.localeCompare(b.module),
  );
}
