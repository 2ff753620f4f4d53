import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Log } from '../../base/log.js';
import { apiStatus } from '../../kube/client.js';
import type { NodePatch } from '../decide.js';
import type { EventReason, EventRecorder } from '../events.js';
import type { GuardianMetrics } from './metrics.js';
import type { GuardianAction } from './plan.js';
import type { HistoryEntry } from '../../contract/edgebox-status.js';
import { apiClient } from '../../kube/api-client.js';

/**
 * Carries out the guardian's actions: each is one merge patch of one Node's annotations with the
 * resourceVersion the plan was made on (a conflict means the node changed: the next pass plans
 * again), then its Event and metric, only after the write succeeded.
 */

export interface GuardianWritten {
  /** The node and its new resourceVersion, when the write went through. */
  node?: { name: string; resourceVersion: string };
  /** The history entry of a change that ended. */
  history?: HistoryEntry;
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const REQUESTED: Record<Exclude<GuardianAction['type'], 'complete'>, { reason: EventReason; type: 'Normal' | 'Warning' }> = {
  'remove-member': { reason: 'MemberRemovalRequested', type: 'Warning' },
  promote: { reason: 'ServerPromotionRequested', type: 'Normal' },
  demote: { reason: 'ModuleDemotionRequested', type: 'Normal' },
  'reset-returned': { reason: 'ModuleResetRequested', type: 'Normal' },
};

const COMPLETED: Record<HistoryEntry['type'], EventReason> = {
  promote: 'ServerPromoted',
  remove: 'MemberRemoved',
  demote: 'ModuleDemoted',
  reset: 'ModuleReset',
  cancel: 'PromotionCancelled',
};

export class GuardianExecutor {
  private readonly core: CoreV1Api;

  constructor(private readonly o: { kc: KubeConfig; log: Log; events: EventRecorder; metrics: GuardianMetrics }) {
    this.core = apiClient(o.kc, CoreV1Api);
  }

  async execute(a: GuardianAction): Promise<GuardianWritten> {
    const rv = await this.patchNode(a.patch);
    if (rv === undefined) return {};
    const node = { name: a.patch.node, resourceVersion: rv };
    if (a.type === 'complete') {
      this.o.metrics.changes.inc({ type: a.history.type });
      this.o.log('info', 'control-plane change done', { change: a.history.type, module: a.module, durationMs: a.history.durationMs });
      const took = a.history.durationMs === undefined ? '' : ` (${(a.history.durationMs / 1000).toFixed(1)} s)`;
      await this.o.events.node(a.patch.node, a.history.type === 'cancel' ? 'Warning' : 'Normal', COMPLETED[a.history.type], `${a.history.reason}${took}`);
      return { node, history: a.history };
    }
    const ev = REQUESTED[a.type];
    this.o.log('info', 'control-plane change asked for', { change: a.type, module: a.module, reason: a.reason });
    await this.o.events.node(a.patch.node, ev.type, ev.reason, a.reason);
    return { node };
  }

  /** The node's new resourceVersion, or undefined when it changed since the plan (409) or is gone (404). */
  private async patchNode(p: NodePatch): Promise<string | undefined> {
    try {
      const n: V1Node = await this.core.patchNode(
        { name: p.node, body: { metadata: { resourceVersion: p.resourceVersion, annotations: p.annotations ?? {} } } },
        merge,
      );
      return n.metadata?.resourceVersion;
    } catch (e) {
      if (apiStatus(e) === 409 || apiStatus(e) === 404) {
        this.o.log('info', 'node changed since the guardian planned: planning again', { node: p.node });
        return undefined;
      }
      throw e;
    }
  }
}
