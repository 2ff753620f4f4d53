import type { KubeConfig } from '@kubernetes/client-node';
import type { Log } from '../../base/log.js';
import type { EventRecorder } from '../events.js';
import type { ControllerMetrics } from '../metrics.js';
import { GuardianExecutor } from './executor.js';
import { GuardianMetrics } from './metrics.js';
import { planControlPlane, type GuardianAction, type GuardianPlan } from './plan.js';
import { controlPlaneStatus, type StatusResult } from './status.js';
import type { GuardianObserved } from './view.js';
import type { ControlPlaneStatus, HistoryEntry } from '../../contract/edgebox-status.js';

/**
 * One pass of the guardian, run by the controller's leader after the self-healing decisions of
 * the same pass (they share the informers' snapshot): plan, execute each action while still
 * leading, and hand the control-plane status to the status writer. History entries of changes
 * that ended wait here until a status write has kept them.
 */
export class Guardian {
  private readonly executor: GuardianExecutor;
  private readonly metrics: GuardianMetrics;
  private plan: GuardianPlan | undefined;
  private added: HistoryEntry[] = [];
  private last: StatusResult | undefined;
  private lastMessage: string | undefined;

  constructor(private readonly o: { kc: KubeConfig; log: Log; events: EventRecorder; metrics: ControllerMetrics; now: () => number }) {
    this.metrics = new GuardianMetrics(o.metrics.registry);
    this.executor = new GuardianExecutor({ kc: o.kc, log: o.log, events: o.events, metrics: this.metrics });
  }

  /**
   * `busy`: nodes the self-healing decisions wrote in this pass; an action on one of them would
   * only meet a conflict, so it waits for the next pass. Returns the nodes written.
   */
  async pass(observed: GuardianObserved, leading: () => boolean, busy: ReadonlySet<string>): Promise<{ acted: boolean; nodes: Map<string, string> }> {
    this.plan = planControlPlane(observed);
    // What the guardian waits for, once per change: the status says it too, but only a log keeps
    // its timeline (why a restore took the time it took).
    if (this.plan.message !== this.lastMessage) {
      this.lastMessage = this.plan.message;
      if (this.plan.message) this.o.log('info', 'control plane', { message: this.plan.message });
    }
    const nodes = new Map<string, string>();
    for (const a of this.plan.actions) {
      if (!leading()) break;
      if (busy.has(a.patch.node)) continue;
      const w = await this.act(a);
      if (w.node) nodes.set(w.node.name, w.node.resourceVersion);
      if (w.history) this.added.push(w.history);
    }
    return { acted: nodes.size > 0, nodes };
  }

  /** The status writer's callback: the new `status.controlPlane` from the one it read. */
  readonly status = (previous: ControlPlaneStatus | undefined): ControlPlaneStatus | undefined => {
    if (!this.plan) return previous;
    this.last = controlPlaneStatus({ now: this.o.now(), servers: this.plan.servers, plan: this.plan, previous, added: this.added });
    return this.last.status;
  };

  /** After the status was written: the history is kept, and a restore is reported once. */
  async written(): Promise<void> {
    const last = this.last;
    this.added = [];
    this.last = undefined;
    if (!last?.restored) return;
    this.metrics.restoreSeconds.observe(last.restored.durationMs / 1000);
    this.o.log('info', 'control plane restored', { durationMs: last.restored.durationMs });
    const leader = last.status.leader ?? last.status.voters[0]?.module;
    if (leader) await this.o.events.node(leader, 'Normal', 'QuorumRestored', last.restored.reason);
  }

  private async act(a: GuardianAction) {
    try {
      return await this.executor.execute(a);
    } catch (e) {
      this.o.log('error', 'control-plane action failed; it is planned again on the next pass', {
        action: a.type,
        module: a.module,
        error: (e as Error).message,
      });
      return {};
    }
  }
}
