import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Log } from '../base/log.js';
import { apiStatus } from '../kube/client.js';
import { apiClient } from '../kube/api-client.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';

/**
 * Leader election on the Lease `edgebox-system/edgebox-controller`, written through the
 * coordination.k8s.io/v1 API (the client library has no helper). Only the leader acts.
 * Every write carries the resourceVersion it was decided on (create, or replace with it), so two
 * candidates can never both win the same term.
 */

export const LEADER_LEASE = 'edgebox-controller';

export interface ElectionTimings {
  /** How long a holder's claim lasts without renewal. Default 4 s. */
  leaseMs: number;
  /** The leader renews this often. Default 1 s. */
  renewMs: number;
  /**
   * The leader stops acting when it has not renewed for this long: shorter than the lease, so it
   * has stopped before anyone else may take over. Default 3 s.
   */
  renewDeadlineMs: number;
  /** How often a standby looks whether the Lease is free. Default 0.5 s. */
  retryMs: number;
}

export const DEFAULT_TIMINGS: ElectionTimings = { leaseMs: 4000, renewMs: 1000, renewDeadlineMs: 3000, retryMs: 500 };

/** The Lease as the election reads it. */
export interface LeaseRecord {
  holder: string;
  resourceVersion: string;
  transitions: number;
}

/**
 * What a candidate saw last: the record, and when (on its own clock) that record was first seen
 * unchanged. A holder is expired once its record has not changed for a lease duration on the
 * candidate's clock, as client-go decides it: clocks of different hosts never get compared.
 */
export interface Observation {
  record: LeaseRecord;
  seenAt: number;
}

export type Step =
  | { kind: 'create' }
  /** Take the Lease over from `previous` (an expired or released holder). */
  | { kind: 'acquire'; transitions: number }
  | { kind: 'renew' }
  /** Someone else holds a live Lease. */
  | { kind: 'wait'; holder: string };

/** What a candidate does given the Lease as it last observed it. Pure. */
export function electionStep(o: { id: string; lease: Observation | undefined; now: number; leaseMs: number }): Step {
  if (!o.lease) return { kind: 'create' };
  const { record, seenAt } = o.lease;
  if (record.holder === o.id) return { kind: 'renew' };
  if (record.holder === '' || o.now - seenAt >= o.leaseMs) return { kind: 'acquire', transitions: record.transitions + 1 };
  return { kind: 'wait', holder: record.holder };
}

/**
 * The new observation after reading the Lease: the time it was first seen stays as long as the
 * record is the same (same resourceVersion), so a holder that stopped renewing expires.
 */
export function observe(previous: Observation | undefined, record: LeaseRecord | undefined, now: number): Observation | undefined {
  if (!record) return undefined;
  return previous && previous.record.resourceVersion === record.resourceVersion ? previous : { record, seenAt: now };
}

/** Whether a leader that last renewed at `lastRenewal` must stop acting. Pure. */
export function mustStepDown(lastRenewal: number, now: number, renewDeadlineMs: number): boolean {
  return now - lastRenewal > renewDeadlineMs;
}

/** The Lease a holder writes. */
export function leaseBody(o: { id: string; now: number; leaseMs: number; transitions: number; acquiredAt: number; resourceVersion?: string }): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: LEADER_LEASE, namespace: SYSTEM_NAMESPACE, ...(o.resourceVersion ? { resourceVersion: o.resourceVersion } : {}) },
    spec: {
      holderIdentity: o.id,
      leaseDurationSeconds: Math.ceil(o.leaseMs / 1000),
      // V1MicroTime writes the six fractional digits the API server's MicroTime requires.
      acquireTime: new V1MicroTime(o.acquiredAt),
      renewTime: new V1MicroTime(o.now),
      leaseTransitions: o.transitions,
    },
  };
}

function recordOf(lease: V1Lease): LeaseRecord {
  return {
    holder: lease.spec?.holderIdentity ?? '',
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    transitions: lease.spec?.leaseTransitions ?? 0,
  };
}

export interface ElectorOptions {
  kc: KubeConfig;
  id: string;
  log: Log;
  timings?: ElectionTimings;
  /** Wall clock for the Lease's times. Default Date.now. */
  now?: () => number;
  /** Monotonic clock for deadlines and expiry. Default performance.now. */
  monotonic?: () => number;
  onChange: (leading: boolean) => void;
}

/**
 * Runs the election until stopped: as leader, renews every `renewMs` and steps down (calls
 * `onChange(false)`) as soon as a renewal has been missing past the deadline; as standby,
 * looks every `retryMs` whether the Lease is free.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly t: ElectionTimings;
  private readonly now: () => number;
  private readonly mono: () => number;
  private seen: Observation | undefined;
  /** The Lease as this leader last wrote it: the next renewal replaces exactly that version. */
  private mine: { lease: V1Lease; renewedAt: number; acquiredAt: number; transitions: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly o: ElectorOptions) {
    this.t = o.timings ?? DEFAULT_TIMINGS;
    // A renewal written while etcd's leader dies is answered only at etcd's request timeout (7 s:
    // 5 s plus two election timeouts), long past the renew deadline, though a new etcd leader is
    // elected within about 2 s. So every request gives up after `renewMs` and a renewal is made
    // again after `retryMs`: the controller keeps leading through the loss of a server, when it is
    // most needed, and a standby's request hung on a dead API server never stops it trying.
    this.api = apiClient(o.kc, CoordinationV1Api, this.t.renewMs);
    this.now = o.now ?? Date.now;
    this.mono = o.monotonic ?? (() => performance.now());
  }

  get leading(): boolean {
    return this.mine !== undefined && !mustStepDown(this.mine.renewedAt, this.mono(), this.t.renewDeadlineMs);
  }

  start(): void {
    this.schedule(0);
  }

  /** Stops the loop; a leader releases the Lease (holder empty) so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (!this.mine) return;
    const { lease, acquiredAt, transitions } = this.mine;
    this.lose('stopping');
    // An empty holder is free at once (electionStep), whatever the lease duration says.
    const body = leaseBody({ id: '', now: this.now(), leaseMs: 1000, transitions, acquiredAt, resourceVersion: lease.metadata!.resourceVersion! });
    try {
      await this.api.replaceNamespacedLease({ name: LEADER_LEASE, namespace: SYSTEM_NAMESPACE, body });
      this.o.log('info', 'released the leader Lease');
    } catch (e) {
      this.o.log('warn', 'could not release the leader Lease; a standby takes over once it expires', { error: (e as Error).message });
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().then((renewed) => this.schedule(renewed ? this.t.renewMs : this.t.retryMs));
    }, ms);
  }

  /** Whether this leader renewed: a leader that failed to tries again after `retryMs`. */
  private async tick(): Promise<boolean> {
    let renewed = false;
    try {
      if (this.mine) renewed = await this.renew();
      else await this.tryAcquire();
    } catch (e) {
      this.o.log('warn', 'leader election request failed', { error: (e as Error).message, code: apiStatus(e) });
    }
    if (this.mine && mustStepDown(this.mine.renewedAt, this.mono(), this.t.renewDeadlineMs)) this.lose('could not renew the leader Lease within the deadline');
    return renewed || this.mine === undefined;
  }

  private async renew(): Promise<boolean> {
    const mine = this.mine!;
    const started = this.mono();
    const body = leaseBody({
      id: this.o.id,
      now: this.now(),
      leaseMs: this.t.leaseMs,
      transitions: mine.transitions,
      acquiredAt: mine.acquiredAt,
      resourceVersion: mine.lease.metadata!.resourceVersion!,
    });
    try {
      const lease = await this.api.replaceNamespacedLease({ name: LEADER_LEASE, namespace: SYSTEM_NAMESPACE, body });
      // Counted from when it was sent: that is when the Lease said it was renewed.
      this.mine = { ...mine, lease, renewedAt: started };
      return true;
    } catch (e) {
      if (apiStatus(e) !== 409 && apiStatus(e) !== 404) throw e;
      // A renewal given up on may still have been written: the Lease still ours is renewed next time.
      const current = apiStatus(e) === 409 ? await this.api.readNamespacedLease({ name: LEADER_LEASE, namespace: SYSTEM_NAMESPACE }) : undefined;
      if (current?.spec?.holderIdentity === this.o.id && (current.spec.leaseTransitions ?? 0) === mine.transitions) {
        this.mine = { ...mine, lease: current };
        return false;
      }
      // Someone else wrote the Lease: it is no longer ours to renew.
      this.lose('the leader Lease was changed by someone else');
      return false;
    }
  }

  private async tryAcquire(): Promise<void> {
    let current: V1Lease | undefined;
    try {
      current = await this.api.readNamespacedLease({ name: LEADER_LEASE, namespace: SYSTEM_NAMESPACE });
    } catch (e) {
      if (apiStatus(e) !== 404) throw e;
    }
    const now = this.mono();
    this.seen = observe(this.seen, current ? recordOf(current) : undefined, now);
    const step = electionStep({ id: this.o.id, lease: this.seen, now, leaseMs: this.t.leaseMs });
    if (step.kind === 'wait') return;
    const wall = this.now();
    // 'renew' here: the Lease still names this id (a restart within the lease); no new holder.
    const transitions = step.kind === 'create' ? 0 : step.kind === 'acquire' ? step.transitions : this.seen!.record.transitions;
    const body = leaseBody({
      id: this.o.id,
      now: wall,
      leaseMs: this.t.leaseMs,
      transitions,
      acquiredAt: wall,
      ...(current ? { resourceVersion: current.metadata!.resourceVersion! } : {}),
    });
    try {
      const lease =
        step.kind === 'create'
          ? await this.api.createNamespacedLease({ namespace: SYSTEM_NAMESPACE, body })
          : await this.api.replaceNamespacedLease({ name: LEADER_LEASE, namespace: SYSTEM_NAMESPACE, body });
      this.mine = { lease, renewedAt: now, acquiredAt: wall, transitions };
      this.o.log('info', 'became leader', { transitions });
      this.o.onChange(true);
    } catch (e) {
      // Another candidate won this round (409: created or replaced first).
      if (apiStatus(e) !== 409) throw e;
    }
  }

  private lose(why: string): void {
    if (!this.mine) return;
    this.mine = undefined;
    this.seen = undefined;
    this.o.log('warn', 'stopped leading', { why });
    this.o.onChange(false);
  }
}
