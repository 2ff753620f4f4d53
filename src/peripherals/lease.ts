import { PERIPHERAL_ANNOTATIONS, PERIPHERAL_LEASE_PREFIX } from '../contract/peripherals.js';
import { timeOf } from '../kube/time.js';

/**
 * An ownership Lease as the controller, the agents and the CLI read it. The fencing token is
 * `spec.leaseTransitions`: only the controller changes the holder, and it adds one each time,
 * so the token only grows (the API server keeps the Lease across restarts of everything).
 */
export interface PeripheralLease {
  peripheral: string;
  resourceVersion: string;
  /** The owner module, or null while nobody owns it. */
  holder: string | null;
  token: number;
  /** ms since the epoch of the last renewal (the owner's agent, or the controller when it assigned). */
  renewTime: number | null;
  /** When the current holder got it (ms), or null. */
  acquireTime: number | null;
  durationSeconds: number;
  /** When the reader saw its last renewal, on the reader's monotonic clock (ms); null when never renewed. */
  observedAt: number | null;
  moveTo?: string;
  releaseToken?: number;
  releasedToken?: number;
}

type RawLease = {
  metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> | undefined };
  spec?: { holderIdentity?: string | null; leaseTransitions?: number | null; renewTime?: unknown; acquireTime?: unknown; leaseDurationSeconds?: number | null };
};

const int = (s: string | undefined): number | undefined => {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  return Number(s);
};

/**
 * The peripheral Lease in a Lease object (typed or raw JSON), or undefined when it is none. Pure.
 * `observedAt`: when the reader saw the renewal on its own monotonic clock (the controller,
 * src/kube/observed-time.ts); a one-shot reader that acts on nothing by time passes none,
 * and the Lease's own renewTime stands in.
 */
export function toPeripheralLease(l: RawLease, observedAt?: number | null): PeripheralLease | undefined {
  const name = l.metadata?.name ?? '';
  if (!name.startsWith(PERIPHERAL_LEASE_PREFIX)) return undefined;
  const a = l.metadata?.annotations ?? {};
  const moveTo = a[PERIPHERAL_ANNOTATIONS.moveTo];
  const releaseToken = int(a[PERIPHERAL_ANNOTATIONS.releaseToken]);
  const releasedToken = int(a[PERIPHERAL_ANNOTATIONS.releasedToken]);
  const renewTime = timeOf(l.spec?.renewTime);
  return {
    peripheral: name.slice(PERIPHERAL_LEASE_PREFIX.length),
    resourceVersion: l.metadata?.resourceVersion ?? '',
    holder: l.spec?.holderIdentity || null,
    token: l.spec?.leaseTransitions ?? 0,
    renewTime,
    acquireTime: timeOf(l.spec?.acquireTime),
    durationSeconds: l.spec?.leaseDurationSeconds ?? 0,
    observedAt: renewTime === null ? null : observedAt === undefined ? renewTime : observedAt,
    ...(moveTo ? { moveTo } : {}),
    ...(releaseToken !== undefined ? { releaseToken } : {}),
    ...(releasedToken !== undefined ? { releasedToken } : {}),
  };
}

/** When the lease expires on the reader's monotonic clock: its duration after the renewal was seen; null when it was never renewed. */
export function expiresAt(l: Pick<PeripheralLease, 'observedAt' | 'durationSeconds'>): number | null {
  return l.observedAt === null ? null : l.observedAt + l.durationSeconds * 1000;
}

/** The holder confirmed it stopped granting the current token. */
export function isReleased(l: Pick<PeripheralLease, 'token' | 'releasedToken'>): boolean {
  return l.releasedToken !== undefined && l.releasedToken >= l.token;
}
