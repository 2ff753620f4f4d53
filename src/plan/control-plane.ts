import { meetsServerMinimum } from '../catalog/reserve.js';
import { hardwareOf } from '../spec/derive.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';

/**
 * Server ranking, the documented deterministic rule (docs/plan.md), best first:
 *  1. the module may take the server role;
 *  2. it meets K3s's server minimum (2 cores, 2 GB);
 *  3. it has no accelerator (keep GPU/NPU modules' memory for the workloads that need them);
 *  4. more memory, then more CPU cores;
 *  5. the order of the spec.
 */
export function rankServerCandidates(box: BoxSpec, exclude: ReadonlySet<string> = new Set()): ModuleSpec[] {
  const eligible = box.spec.modules.map((m, index) => ({ m, index, hw: hardwareOf(m) })).filter(({ m }) => m.roles.includes('server') && !exclude.has(m.name));
  eligible.sort(
    (a, b) =>
      Number(meetsServerMinimum(b.hw)) - Number(meetsServerMinimum(a.hw)) ||
      Number(a.hw.accelerator !== undefined) - Number(b.hw.accelerator !== undefined) ||
      b.hw.memoryBytes - a.hw.memoryBytes ||
      b.hw.cpuCores - a.hw.cpuCores ||
      a.index - b.index,
  );
  return eligible.map((e) => e.m);
}

/** The modules that start as servers, in order; the first one runs `cluster-init`. */
export function initialServers(box: BoxSpec): ModuleSpec[] {
  return rankServerCandidates(box).slice(0, box.spec.controlPlane.servers);
}
