import type { Scenario } from './model.js';
import { place, type PlacementModel } from './placement.js';

/** The control plane as module indices, for the scenario loop. */
export interface ServerModel {
  /** Initial servers. */
  servers: number[];
  quorum: number;
  /** Promotion candidates, best first. */
  promotable: number[];
}

/** The largest odd number <= n (0 when n < 1): an even voter count tolerates no more than one fewer. */
export function largestOddAtMost(n: number): number {
  if (n < 1) return 0;
  return n % 2 === 1 ? n : n - 1;
}

/** Every single failure, then every pair (i < j), in spec order: N + N(N-1)/2 scenarios. */
export function failureSets(moduleCount: number): number[][] {
  const sets: number[][] = [];
  for (let i = 0; i < moduleCount; i++) sets.push([i]);
  for (let i = 0; i < moduleCount; i++) for (let j = i + 1; j < moduleCount; j++) sets.push([i, j]);
  return sets;
}

/**
 * One failure scenario. Surviving initial servers keep serving; when a surviving server holds
 * the etcd data (restorable), the best surviving promotable modules take the server role until
 * the cluster has votersAfterRestore voters, and they then carry the server reserve. Workloads
 * are re-placed on the survivors as if the control plane were back: when it is not
 * restorable, that takes a human, but the capacity question is the same.
 */
export function evaluateScenario(model: PlacementModel, cp: ServerModel, failed: readonly number[]): Scenario {
  const n = model.moduleNames.length;
  const alive = new Uint8Array(n).fill(1);
  for (const m of failed) alive[m] = 0;
  const server = new Uint8Array(n);

  const survivingServers = cp.servers.filter((m) => alive[m]);
  for (const m of survivingServers) server[m] = 1;
  const survivingPromotable = cp.promotable.filter((m) => alive[m]);
  const restorable = survivingServers.length >= 1;
  const votersAfterRestore = restorable ? largestOddAtMost(Math.min(cp.servers.length, survivingServers.length + survivingPromotable.length)) : 0;
  const promoted = survivingPromotable.slice(0, Math.max(0, votersAfterRestore - survivingServers.length));
  for (const m of promoted) server[m] = 1;

  const { unplaced } = place(model, { alive, server }, { detail: false });
  const failedSet = new Set(failed);
  return {
    failed: failed.map((m) => model.moduleNames[m]!),
    quorumKept: survivingServers.length >= cp.quorum,
    restorable,
    votersAfterRestore,
    promoted: promoted.map((m) => model.moduleNames[m]!),
    unplacedWorkloads: unplaced.map((u) => u.workload),
    unplaced,
    orphanedPeripherals: model.exclusive.filter((p) => p.attached.every((m) => failedSet.has(m))).map((p) => p.name),
  };
}
