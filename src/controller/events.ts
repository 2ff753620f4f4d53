import { randomBytes } from 'node:crypto';
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Log } from '../base/log.js';
import { PREFIX } from '../contract/labels.js';
import { apiClient } from '../kube/api-client.js';

export const EVENT_SOURCE = 'edgebox-controller';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export type EventReason =
  | 'ModuleFailed'
  | 'ModuleRecovered'
  | 'ModuleFenced'
  | 'FenceFailed'
  | 'PodsReleased'
  | 'WorkloadsReady'
  | 'ModuleRejoined'
  | 'PeripheralAssigned'
  | 'PeripheralReleaseRequested'
  | 'PeripheralOwnerUnavailable'
  // The guardian's control-plane changes (src/controller/guardian).
  | 'MemberRemovalRequested'
  | 'ServerPromotionRequested'
  | 'ModuleDemotionRequested'
  | 'ModuleResetRequested'
  | 'ServerPromoted'
  | 'MemberRemoved'
  | 'ModuleDemoted'
  | 'ModuleReset'
  | 'PromotionCancelled'
  | 'QuorumRestored'
  | 'DrainRefused';

/**
 * core/v1 Events, as `kubectl describe` and `kubectl get events` show them. Recording is best
 * effort: a failed Event is logged, never a reason to undo or retry what was done.
 */
export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;

  constructor(
    kc: KubeConfig,
    private readonly o: { id: string; log: Log; now: () => number },
  ) {
    this.core = apiClient(kc, CoreV1Api);
    this.apps = apiClient(kc, AppsV1Api);
  }

  /**
   * A Node's Event. Nodes' Events live in `default` and name the node as their uid: that is
   * how the kubelet records them, and what `kubectl describe node` looks for.
   */
  node(name: string, type: 'Normal' | 'Warning', reason: EventReason, message: string): Promise<void> {
    return this.record({ apiVersion: 'v1', kind: 'Node', name, namespace: 'default', uid: name }, 'default', type, reason, message);
  }

  /** An Event on a Lease (a peripheral's ownership Lease: `kubectl describe lease -n edgebox-system peripheral-<name>`). */
  lease(namespace: string, name: string, type: 'Normal' | 'Warning', reason: EventReason, message: string): Promise<void> {
    return this.record({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name, namespace }, namespace, type, reason, message);
  }

  /** An Event on a workload's Deployment or StatefulSet (read for its uid). */
  async workload(
    kind: 'Deployment' | 'StatefulSet',
    namespace: string,
    name: string,
    type: 'Normal' | 'Warning',
    reason: EventReason,
    message: string,
  ): Promise<void> {
    let uid: string | undefined;
    try {
      const o =
        kind === 'Deployment' ? await this.apps.readNamespacedDeployment({ name, namespace }) : await this.apps.readNamespacedStatefulSet({ name, namespace });
      uid = o.metadata?.uid;
    } catch (e) {
      this.o.log('warn', 'could not read a workload for its Event', { kind, namespace, name, error: (e as Error).message });
      return;
    }
    await this.record({ apiVersion: 'apps/v1', kind, name, namespace, ...(uid ? { uid } : {}) }, namespace, type, reason, message);
  }

  private async record(target: EventTarget, namespace: string, type: 'Normal' | 'Warning', reason: EventReason, message: string): Promise<void> {
    const at = new Date(this.o.now());
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${target.name}.${at.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
          involvedObject: target,
          reason,
          message,
          type,
          source: { component: EVENT_SOURCE },
          reportingComponent: `${PREFIX}/${EVENT_SOURCE}`,
          reportingInstance: this.o.id,
          firstTimestamp: at,
          lastTimestamp: at,
          count: 1,
        },
      });
    } catch (e) {
      this.o.log('warn', 'could not record an Event', { reason, target: `${target.kind}/${target.name}`, error: (e as Error).message });
    }
  }
}
