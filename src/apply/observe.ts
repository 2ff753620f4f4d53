import type { KubeObject } from '../render/manifests.js';
import type { Cluster } from './cluster.js';
import { APPLY_KINDS, refKey, refOf } from './kinds.js';
import { ownershipSelector, shouldForce, type DesiredState, type ObservedState } from './plan.js';

export interface Observation {
  observed: ObservedState;
  dryRunResults: Map<string, KubeObject>;
}

/**
 * Reads what the planner needs: each desired object by name, every object this box owns (by
 * label, across APPLY_KINDS, for prune), the nodes, and the server's dry-run apply of each
 * desired object that exists. New objects get no dry-run: their namespace may not exist yet.
 */
export async function observe(cluster: Cluster, desired: DesiredState): Promise<Observation> {
  const nodes = await cluster.listNodes();
  const owned = (await Promise.all(APPLY_KINDS.filter((k) => k.pruned !== false).map((k) => cluster.list(k, ownershipSelector(desired.box))))).flat();
  const objects = new Map(owned.map((o) => [refKey(refOf(o)), o]));
  const dryRunResults = new Map<string, KubeObject>();
  for (const o of desired.objects) {
    const key = refKey(refOf(o));
    const found = await readWithDryRun(cluster, o, desired.box);
    if (!found) {
      objects.delete(key);
      continue;
    }
    objects.set(key, found.live);
    dryRunResults.set(key, found.dryRun);
  }
  return { observed: { objects: [...objects.values()], nodes }, dryRunResults };
}

/** Attempts at reading an object and its dry-run from the same version before comparing anyway. */
const SAME_VERSION_ATTEMPTS = 3;

/**
 * The live object and the dry-run of applying `o` to it, from the same resourceVersion: a
 * controller writing the object between the read and the dry-run (the Deployment controller
 * sets its revision annotation right after creation) would otherwise look like a change.
 */
async function readWithDryRun(cluster: Cluster, o: KubeObject, box: string): Promise<{ live: KubeObject; dryRun: KubeObject } | undefined> {
  for (let attempt = 1; ; attempt++) {
    const live = await cluster.read(refOf(o));
    if (!live) return undefined;
    const dryRun = await cluster.apply(o, { dryRun: true, force: shouldForce(live, box) });
    if (resourceVersion(dryRun) === resourceVersion(live) || attempt === SAME_VERSION_ATTEMPTS) return { live, dryRun };
  }
}

function resourceVersion(o: KubeObject): unknown {
  return (o.metadata as { resourceVersion?: unknown }).resourceVersion;
}
