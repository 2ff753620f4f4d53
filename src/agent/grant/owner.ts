import { type EdgeboxError } from '../../diagnostics/diagnostic.js';
import { isReleased, toPeripheralLease } from '../../peripherals/lease.js';
import { PERIPHERAL_ANNOTATIONS, peripheralLeaseName, type PeripheralTimings } from '../../contract/peripherals.js';
import type { ApiClient } from '../api/client.js';
import type { Holding } from './decide.js';
import { microTime } from '../../kube/time.js';
import { SYSTEM_NAMESPACE } from '../../contract/leases.js';

/**
 * The agent's side of one peripheral's ownership Lease. The controller alone decides who holds
 * it; this module's agent, while it is the holder, renews `renewTime` every `renewMs` (a PUT
 * with the resourceVersion last read: a conflict means the controller changed it, so it reads
 * again). It may grant until its last successful renewal, timed from when that request was
 * sent, plus the lease minus the grant margin; after that, or as soon as it is not the holder or
 * is asked to release, it stops. Asked to release, it confirms (`released-token`) instead of
 * renewing, so a planned move need not wait for the lease to run out.
 */

type Lease = Record<string, unknown> & {
  metadata?: Record<string, unknown> & { annotations?: Record<string, string>; resourceVersion?: string };
  spec?: Record<string, unknown>;
};

export type LossReason = 'not-owner' | 'release-requested' | 'lease-lapsed' | 'no-lease' | 'stopped';

export interface OwnerEvents {
  acquired(token: number): void;
  lost(token: number, reason: LossReason): void;
  /** It is about to confirm it released `token` (the controller may then hand over at once). */
  confirming(token: number): void;
}

export class PeripheralOwner {
  private cached: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lapse: NodeJS.Timeout | undefined;
  private stopped = false;
  private holding: Holding = { token: null, validUntil: 0 };
  /** Tokens this agent confirmed it released: never granted again. */
  private readonly released = new Set<number>();

  constructor(
    private readonly o: {
      client: Pick<ApiClient, 'request'>;
      module: string;
      peripheral: string;
      timings: PeripheralTimings;
      mono: () => number;
      wall: () => number;
      events: OwnerEvents;
      onError?: (e: EdgeboxError | Error) => void;
    },
  ) {}

  get state(): Holding {
    return this.holding;
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.lose('stopped');
  }

  private async loop(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.renew();
    } catch (e) {
      // The API is unreachable or refused: the validity runs out on its own (the lapse timer).
      this.cached = undefined;
      this.o.onError?.(e as Error);
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.loop(), this.o.timings.renewMs);
    this.timer.unref();
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${peripheralLeaseName(this.o.peripheral)}`;
  }

  private async renew(attempt = 0): Promise<void> {
    const sentMono = this.o.mono();
    const sentWall = this.o.wall();
    let current = this.cached;
    if (!current) {
      const res = await this.o.client.request('GET', this.path);
      if (res.status === 404) return this.lose('no-lease');
      if (res.status !== 200) throw new Error(`reading Lease ${peripheralLeaseName(this.o.peripheral)}: HTTP ${res.status}`);
      current = res.body as Lease;
    }
    const l = toPeripheralLease(current as never);
    if (!l || l.holder !== this.o.module) {
      this.cached = undefined;
      return this.lose('not-owner');
    }
    if (isReleased(l) || this.released.has(l.token)) {
      this.cached = undefined;
      return this.lose('release-requested');
    }
    if (l.releaseToken === l.token) {
      // Stop first, then say so: the controller hands over only after reading the confirmation.
      this.lose('release-requested');
      this.released.add(l.token);
      this.o.events.confirming(l.token);
      const body = {
        ...current,
        metadata: { ...current.metadata, annotations: { ...current.metadata?.annotations, [PERIPHERAL_ANNOTATIONS.releasedToken]: String(l.token) } },
      };
      const res = await this.o.client.request('PUT', this.path, body);
      this.cached = undefined;
      if (res.status === 409 && attempt < 2) return this.renew(attempt + 1);
      return;
    }
    const body = { ...current, spec: { ...current.spec, renewTime: microTime(sentWall) } };
    const res = await this.o.client.request('PUT', this.path, body);
    if (res.status === 409 || res.status === 404) {
      this.cached = undefined;
      if (attempt < 2) return this.renew(attempt + 1);
      return;
    }
    if (res.status !== 200) {
      this.cached = undefined;
      throw new Error(`renewing Lease ${peripheralLeaseName(this.o.peripheral)}: HTTP ${res.status}`);
    }
    this.cached = res.body as Lease;
    this.acquire(l.token, sentMono + this.o.timings.leaseSeconds * 1000 - this.o.timings.grantMarginMs);
  }

  private acquire(token: number, validUntil: number): void {
    if (this.stopped || validUntil <= this.o.mono()) return;
    const fresh = this.holding.token !== token;
    if (fresh && this.holding.token !== null) this.lose('not-owner');
    this.holding = { token, validUntil };
    if (fresh) this.o.events.acquired(token);
    clearTimeout(this.lapse);
    this.lapse = setTimeout(
      () => {
        if (this.holding.token === token && this.o.mono() >= this.holding.validUntil) this.lose('lease-lapsed');
      },
      Math.max(0, validUntil - this.o.mono()) + 1,
    );
    this.lapse.unref();
  }

  private lose(reason: LossReason): void {
    clearTimeout(this.lapse);
    const token = this.holding.token;
    this.holding = { token: null, validUntil: 0 };
    if (token !== null) this.o.events.lost(token, reason);
  }
}
