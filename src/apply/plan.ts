import type { KubeObject } from '../render/manifests.js';
import { LABELS } from '../contract/labels.js';
import { kindInfo, refKey, refOf, type ObjectRef } from './kinds.js';
import { comparable, sameContent } from './normalize.js';
import { nodeOfModule, planNode, type ModuleIntent, type NodeChange, type ObservedNode } from './node-plan.js';
import type { Taint } from '../contract/taints.js';

export interface DesiredState {
  box: string;
  /** What renderManifests(box) produces. */
  objects: KubeObject[];
  /** One per module of the spec. */
  modules: ModuleIntent[];
}

export interface ObservedState {
  /**
   * Live objects: those with a desired object's name, plus every object of an APPLY_KINDS kind
   * that carries this box's ownership labels.
   */
  objects: KubeObject[];
  nodes: ObservedNode[];
}

export type Action =
  | { type: 'create'; ref: ObjectRef; desired: KubeObject; force: boolean }
  /** `before`/`after`: the live object and the server's dry-run of the apply, as compared. */
  | { type: 'update'; ref: ObjectRef; desired: KubeObject; force: boolean; before: KubeObject; after: KubeObject }
  | { type: 'unchanged'; ref: ObjectRef }
  | { type: 'prune'; ref: ObjectRef; before: KubeObject }
  | { type: 'label-node'; ref: ObjectRef; module: string; labels: Record<string, string>; taints?: { current: Taint[]; next: Taint[] }; changes: NodeChange[] }
  | { type: 'missing-node'; module: string };

export interface PlanInput {
  desired: DesiredState;
  observed: ObservedState;
  /** The server's dry-run apply of each desired object that exists, by refKey. */
  dryRunResults: ReadonlyMap<string, KubeObject>;
}

/** Whether an object carries the labels that make it this box's, which is what prune deletes by. */
export function ownedBy(o: KubeObject, box: string): boolean {
  return o.metadata.labels?.[LABELS.managedBy] === 'edgebox' && o.metadata.labels?.[LABELS.box] === box;
}

/** The label selector that lists what `ownedBy` accepts. */
export function ownershipSelector(box: string): string {
  return `${LABELS.managedBy}=edgebox,${LABELS.box}=${box}`;
}

/**
 * Whether apply takes over fields another field manager set. Yes on objects this box already
 * owns: there a conflict means a hand edit (`kubectl scale`, `kubectl edit`) of a field the spec
 * declares, and the spec wins, as in any GitOps loop. No on an object someone else created
 * under the same name: apply must not silently take it over, so a conflict there stops with an
 * error that names the other manager. A new object has no conflicts, so force changes nothing.
 * The box's EdgeBox object carries no ownership labels (src/crd edgeBoxObject) but is this box's
 * by its kind and name: its spec is the spec file's.
 */
export function shouldForce(live: KubeObject | undefined, box: string): boolean {
  return live === undefined || ownedBy(live, box) || (live.kind === 'EdgeBox' && live.metadata.name === box);
}

/**
 * The pure core of `edgebox apply`: what to do to bring the cluster from `observed` to
 * `desired`. Node metadata first (the scheduler must see a module's labels and taints before
 * pods that select them exist), then objects in APPLY_KINDS order, then prunes in reverse.
 */
export function planApply({ desired, observed, dryRunResults }: PlanInput): Action[] {
  const nodeActions: Action[] = desired.modules.map((intent) => {
    const node = nodeOfModule(observed.nodes, intent.module);
    if (!node) return { type: 'missing-node', module: intent.module };
    const ref: ObjectRef = { apiVersion: 'v1', kind: 'Node', name: node.metadata.name };
    const plan = planNode(node, intent);
    return plan.changes.length ? { type: 'label-node', ref, module: intent.module, ...plan } : { type: 'unchanged', ref };
  });

  const live = new Map(observed.objects.map((o) => [refKey(refOf(o)), o]));
  const wanted = desired.objects
    .map((o) => ({ o, order: kindInfo(o).order }))
    .sort((a, b) => a.order - b.order)
    .map(({ o }) => o);
  const objectActions: Action[] = wanted.map((o) => {
    const ref = refOf(o);
    const key = refKey(ref);
    const before = live.get(key);
    const force = shouldForce(before, desired.box);
    if (!before) return { type: 'create', ref, desired: o, force };
    const after = dryRunResults.get(key);
    if (!after) throw new Error(`planApply: no dry-run result for existing ${key}`);
    return sameContent(before, after)
      ? { type: 'unchanged', ref }
      : { type: 'update', ref, desired: o, force, before: comparable(before), after: comparable(after) };
  });

  const wantedKeys = new Set(wanted.map((o) => refKey(refOf(o))));
  const prunes: Action[] = observed.objects
    // An object already being deleted needs nothing more; asking again would report a prune on every run.
    .filter((o) => ownedBy(o, desired.box) && kindInfo(o).pruned !== false && !wantedKeys.has(refKey(refOf(o))) && !o.metadata.deletionTimestamp)
    .sort((a, b) => kindInfo(b).order - kindInfo(a).order)
    .map((o) => ({ type: 'prune', ref: refOf(o), before: comparable(o) }));

  return [...nodeActions, ...objectActions, ...prunes];
}
