import { nodeOfModule } from '../../apply/node-plan.js';
import { ownsLabel, type PeripheralTimings } from '../../contract/peripherals.js';
import { isReleased, type PeripheralLease } from '../../peripherals/lease.js';
import { chooseOwner, exclusivePeripherals, handoverSafety, ownerOrder, type ModuleState, type SafeBecause } from '../../peripherals/ownership.js';
import type { BoxSpec } from '../../spec/schema.js';
import { isFresh, type PodRef } from '../decide.js';
import { fenceMethodOf, failoverOf, type AgentView, type ObservedNode, type ObservedPod } from '../model.js';
import { OUT_OF_SERVICE_TAINT, hasTaint } from '../../contract/taints.js';

/**
 * The peripheral reconciler's pure core (docs/decisions/0003-peripherals.md): from the observed
 * ownership Leases, nodes, agent views and pods, the actions that keep exactly one owner per
 * exclusive peripheral. No I/O and no memory: a new leader given the same state plans the same.
 * Every Lease write carries the resourceVersion it was planned on, so a plan made on a stale
 * view fails with a conflict instead of acting.
 */

export interface PeripheralObserved {
  /** This host's monotonic clock (ms): Leases' `observedAt` and every age are on it. */
  mono: number;
  box: BoxSpec;
  timings: PeripheralTimings;
  nodes: ObservedNode[];
  views: AgentView[];
  pods: ObservedPod[];
  leases: PeripheralLease[];
}

export type PeripheralAction =
  /** No Lease yet: create it, owned by `owner` (token 1) or by nobody (token 0). */
  | { type: 'create-lease'; peripheral: string; attachedTo: string[]; owner: string | null }
  /** Ask the holder to stop granting its token (a planned move, or a holder that must go but still renews). */
  | { type: 'request-release'; peripheral: string; lease: PeripheralLease; to: string; reason: 'move' | 'holder-unavailable' }
  /** The holder can no longer be granting: the next owner gets the Lease with the next token. */
  | {
      type: 'assign';
      peripheral: string;
      lease: PeripheralLease;
      to: string;
      token: number;
      because: SafeBecause;
      safeAt: number | null;
      reason: 'move' | 'holder-unavailable' | 'unowned';
    }
  /** A move that is done or can never happen (the module is not attached): forget it. */
  | { type: 'clear-move'; peripheral: string; lease: PeripheralLease }
  /** The owner label on a node: set on the owner's, removed from every other. */
  | { type: 'label'; peripheral: string; node: string; owns: boolean }
  /** Pods of the peripheral's workloads left on a live module that no longer owns it: deleted, so they follow. */
  | { type: 'evict'; peripheral: string; node: string; pods: PodRef[] };

const nodeOf = (nodes: readonly ObservedNode[], module: string) => {
  const ref = nodeOfModule(
    nodes.map((n) => ({ metadata: { name: n.name, labels: n.labels } })),
    module,
  );
  return ref ? nodes.find((n) => n.name === ref.metadata.name) : undefined;
};

/** How long a holder keeps its peripheral while its agent's Lease is not renewed (ModuleState.mayKeep). */
export const HOLDER_STALE_GRACE_MS = 15_000;

/** What the reconciler needs to know of each module. Pure. */
export function moduleStates(o: Pick<PeripheralObserved, 'mono' | 'box' | 'nodes' | 'views'>): Map<string, ModuleState> {
  return new Map(
    o.box.spec.modules.map((m) => {
      const n = nodeOf(o.nodes, m.name);
      const view = o.views.find((v) => v.module === m.name);
      const method = n ? fenceMethodOf(n) : undefined;
      const taintFenced = n !== undefined && (method === 'taint' || (method === undefined && hasTaint(n.taints, OUT_OF_SERVICE_TAINT)));
      const sound = n !== undefined && n.ready === 'True' && method === undefined && !taintFenced && failoverOf(n) === undefined;
      const eligible = sound && view !== undefined && isFresh(view, o.mono);
      // Late, not gone: no other agent's fresh view has lost its heartbeats (an API outage leaves
      // the heartbeats alone; a frozen or dead agent does not).
      const heardByAll = !o.views.some((v) => v.module !== m.name && isFresh(v, o.mono) && v.peers[m.name]?.reachable === false);
      const mayKeep = eligible || (sound && heardByAll && view !== undefined && view.observedAt !== null && o.mono - view.observedAt <= HOLDER_STALE_GRACE_MS);
      return [m.name, { module: m.name, eligible, mayKeep, poweredOff: method === 'power', taintFenced }];
    }),
  );
}

export function planPeripherals(o: PeripheralObserved): PeripheralAction[] {
  const states = moduleStates(o);
  const actions: PeripheralAction[] = [];
  for (const p of exclusivePeripherals(o.box)) {
    const order = ownerOrder(o.box, p);
    const lease = o.leases.find((l) => l.peripheral === p.name);
    const choice = chooseOwner(order, lease, states);
    if (!lease) {
      actions.push({ type: 'create-lease', peripheral: p.name, attachedTo: p.attachedTo, owner: choice.desired });
      continue;
    }
    if (lease.moveTo !== undefined && (lease.moveTo === lease.holder || !p.attachedTo.includes(lease.moveTo))) {
      actions.push({ type: 'clear-move', peripheral: p.name, lease });
    }
    // A holder that released its token but is still the one to own it gets it back, with a new token.
    const changing = choice.desired !== null && (choice.desired !== lease.holder || isReleased(lease));
    if (changing) {
      const holderState = lease.holder === null ? undefined : states.get(lease.holder);
      const safety = handoverSafety(lease, holderState, o.mono, o.timings);
      if (safety.safe) {
        actions.push({
          type: 'assign',
          peripheral: p.name,
          lease,
          to: choice.desired!,
          token: lease.token + 1,
          because: safety.because!,
          safeAt: safety.at,
          reason: choice.reason ?? 'unowned',
        });
      } else if (lease.releaseToken !== lease.token && !isReleased(lease)) {
        // A holder that still renews would keep it for ever: ask it to let go. One that does not
        // renew ignores this, and its lease runs out.
        actions.push({
          type: 'request-release',
          peripheral: p.name,
          lease,
          to: choice.desired!,
          reason: choice.reason === 'move' ? 'move' : 'holder-unavailable',
        });
      }
    }
    actions.push(...followOwner(o, p.name, changing || isReleased(lease) ? null : lease.holder));
  }
  return actions;
}

/**
 * The owner label only on the owner's node (none while it changes hands), and the peripheral's
 * workloads only there: their pods on another module that is alive are deleted, so their
 * controllers place them on the owner. Pods on a module that is not alive are left to the
 * self-healing controller, which releases them only once that module is fenced (the singleton
 * rule of docs/decisions/0001-self-healing.md).
 */
function followOwner(o: PeripheralObserved, peripheral: string, owner: string | null): PeripheralAction[] {
  const actions: PeripheralAction[] = [];
  const ownerNode = owner === null ? undefined : nodeOf(o.nodes, owner);
  const label = ownsLabel(peripheral);
  for (const n of o.nodes) {
    const owns = n.name === ownerNode?.name;
    if (owns !== (n.labels[label] === 'true')) actions.push({ type: 'label', peripheral, node: n.name, owns });
  }
  if (!ownerNode) return actions;
  const users = new Set(o.box.spec.workloads.filter((w) => w.peripherals.includes(peripheral)).map((w) => w.name));
  const byNode = new Map<string, PodRef[]>();
  for (const pod of o.pods) {
    if (pod.deleting || pod.node === undefined || pod.node === ownerNode.name || !users.has(pod.workload ?? '')) continue;
    const n = o.nodes.find((x) => x.name === pod.node);
    if (!n || n.ready !== 'True' || fenceMethodOf(n) !== undefined || failoverOf(n) !== undefined) continue;
    const list = byNode.get(n.name) ?? [];
    list.push({ namespace: pod.namespace, name: pod.name, uid: pod.uid, workload: pod.workload });
    byNode.set(n.name, list);
  }
  for (const [node, pods] of byNode) actions.push({ type: 'evict', peripheral, node, pods });
  return actions;
}
