import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { Log } from '../../base/log.js';
import { apiStatus } from '../../kube/client.js';
import { PERIPHERAL_ANNOTATIONS, peripheralLeaseName, ownsLabel, type PeripheralTimings } from '../../contract/peripherals.js';
import { LABELS } from '../../contract/labels.js';
import type { EventRecorder } from '../events.js';
import type { PeripheralAction } from './plan.js';
import type { PeripheralMetrics } from './metrics.js';
import { microTime } from '../../kube/time.js';
import { SYSTEM_NAMESPACE } from '../../contract/leases.js';
import { apiClient } from '../../kube/api-client.js';

/**
 * Carries out the peripheral plan: Lease writes are merge patches carrying the resourceVersion
 * they were planned on (a conflict means the owner renewed or another leader acted: the next
 * pass plans again), labels are merge patches of one key, pods are deleted with their uid as
 * precondition. Events and metrics follow only a write that succeeded.
 */

export interface PeripheralExecutorOptions {
  kc: KubeConfig;
  box: string;
  log: Log;
  events: EventRecorder;
  metrics: PeripheralMetrics;
  timings: PeripheralTimings;
  now: () => number;
  /** The monotonic clock of the plan's `safeAt`. */
  mono: () => number;
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const A = PERIPHERAL_ANNOTATIONS;

export class PeripheralExecutor {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;

  constructor(private readonly o: PeripheralExecutorOptions) {
    this.core = apiClient(o.kc, CoreV1Api);
    this.coordination = apiClient(o.kc, CoordinationV1Api);
  }

  /** True when it wrote something. */
  async execute(a: PeripheralAction): Promise<boolean> {
    const name = peripheralLeaseName(a.peripheral);
    const ev = (type: 'Normal' | 'Warning', reason: Parameters<EventRecorder['lease']>[3], message: string) =>
      this.o.events.lease(SYSTEM_NAMESPACE, name, type, reason, message);
    switch (a.type) {
      case 'create-lease': {
        const now = microTime(this.o.now());
        const body = {
          metadata: {
            name,
            namespace: SYSTEM_NAMESPACE,
            labels: { [LABELS.box]: this.o.box },
            annotations: { [A.peripheral]: a.peripheral, [A.attachedTo]: a.attachedTo.join(',') },
          },
          spec: {
            leaseDurationSeconds: this.o.timings.leaseSeconds,
            leaseTransitions: a.owner === null ? 0 : 1,
            ...(a.owner === null ? {} : { holderIdentity: a.owner, acquireTime: now, renewTime: now }),
          },
        };
        try {
          await this.coordination.createNamespacedLease({ namespace: SYSTEM_NAMESPACE, body: body as never });
        } catch (e) {
          if (apiStatus(e) === 409) return false;
          throw e;
        }
        if (a.owner !== null) {
          this.o.metrics.token.set({ peripheral: a.peripheral }, 1);
          this.o.log('info', 'peripheral assigned', { peripheral: a.peripheral, owner: a.owner, token: 1 });
          await ev('Normal', 'PeripheralAssigned', `${a.peripheral} is owned by ${a.owner} with fencing token 1 (first owner)`);
        }
        return true;
      }
      case 'request-release':
        if (!(await this.patchLease(name, a.lease.resourceVersion, { metadata: { annotations: { [A.releaseToken]: String(a.lease.token) } } }))) return false;
        this.o.log('info', 'peripheral release requested', {
          peripheral: a.peripheral,
          holder: a.lease.holder,
          token: a.lease.token,
          next: a.to,
          reason: a.reason,
        });
        await ev(
          'Normal',
          'PeripheralReleaseRequested',
          `${a.lease.holder} is asked to stop granting ${a.peripheral} (token ${a.lease.token}) so that ${a.to} can own it (${a.reason === 'move' ? 'a planned move' : `${a.lease.holder} can no longer own it`})`,
        );
        return true;
      case 'assign': {
        const now = this.o.now();
        const at = microTime(now);
        const patch = {
          metadata: {
            annotations: {
              [A.releaseToken]: null,
              [A.releasedToken]: null,
              ...(a.lease.moveTo === a.to ? { [A.moveTo]: null } : {}),
            },
          },
          spec: { holderIdentity: a.to, leaseTransitions: a.token, acquireTime: at, renewTime: at, leaseDurationSeconds: this.o.timings.leaseSeconds },
        };
        if (!(await this.patchLease(name, a.lease.resourceVersion, patch))) return false;
        this.o.metrics.handovers.inc({ peripheral: a.peripheral, because: a.because });
        this.o.metrics.token.set({ peripheral: a.peripheral }, a.token);
        if (a.safeAt !== null) this.o.metrics.handoverSeconds.observe({ peripheral: a.peripheral }, Math.max(0, this.o.mono() - a.safeAt) / 1000);
        this.o.log('warn', 'peripheral handed over', {
          peripheral: a.peripheral,
          from: a.lease.holder,
          to: a.to,
          token: a.token,
          because: a.because,
          reason: a.reason,
        });
        await ev(
          'Normal',
          'PeripheralAssigned',
          `${a.peripheral} is owned by ${a.to} with fencing token ${a.token}` +
            (a.lease.holder ? ` (from ${a.lease.holder}, token ${a.lease.token}: ${describe(a.because)})` : ''),
        );
        return true;
      }
      case 'clear-move':
        return this.patchLease(name, a.lease.resourceVersion, { metadata: { annotations: { [A.moveTo]: null } } });
      case 'label':
        try {
          await this.core.patchNode({ name: a.node, body: { metadata: { labels: { [ownsLabel(a.peripheral)]: a.owns ? 'true' : null } } } }, merge);
        } catch (e) {
          if (apiStatus(e) === 404) return false;
          throw e;
        }
        return true;
      case 'evict': {
        let any = false;
        for (const p of a.pods) {
          try {
            await this.core.deleteNamespacedPod({ name: p.name, namespace: p.namespace, body: { preconditions: { uid: p.uid } } });
            any = true;
          } catch (e) {
            if (apiStatus(e) !== 404 && apiStatus(e) !== 409) throw e;
          }
        }
        if (any)
          this.o.log('info', "pods moved to the peripheral's owner", {
            peripheral: a.peripheral,
            node: a.node,
            pods: a.pods.map((p) => `${p.namespace}/${p.name}`),
          });
        return any;
      }
    }
  }

  /** False when the Lease changed since the plan (409) or is gone (404). */
  private async patchLease(
    name: string,
    resourceVersion: string,
    body: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> },
  ): Promise<boolean> {
    try {
      await this.coordination.patchNamespacedLease(
        { name, namespace: SYSTEM_NAMESPACE, body: { ...body, metadata: { ...body.metadata, resourceVersion } } },
        merge,
      );
      return true;
    } catch (e) {
      if (apiStatus(e) === 409 || apiStatus(e) === 404) {
        this.o.log('info', 'peripheral Lease changed since the plan: planning again', { lease: name });
        return false;
      }
      throw e;
    }
  }
}

function describe(because: string): string {
  switch (because) {
    case 'released':
      return 'it confirmed it stopped granting';
    case 'powered-off':
      return 'it is powered off';
    case 'fenced-and-expired':
      return 'it is fenced and its lease expired';
    case 'expired':
      return 'its lease expired, plus the safety margin';
    default:
      return 'nobody held it';
  }
}
