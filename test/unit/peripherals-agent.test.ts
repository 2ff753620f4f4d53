import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ApiResponse } from '../../src/agent/api/client.js';
import { PeripheralOwner, type LossReason } from '../../src/agent/grant/owner.js';
import { PERIPHERAL_ANNOTATIONS, DEFAULT_PERIPHERAL_TIMINGS as T } from '../../src/contract/peripherals.js';

/**
 * The agent's side of an ownership Lease, against an in-memory API that keeps resourceVersions
 * as the API server does (a PUT with an old one gets 409). The clock is vitest's fake one.
 */
class FakeApi {
  lease: Record<string, any> | undefined;
  rv = 1;
  /** When false, every request fails as an unreachable API server does. */
  up = true;
  puts: Record<string, any>[] = [];

  constructor(holder: string | null, token: number) {
    this.lease = {
      metadata: { name: 'peripheral-bus', namespace: 'edgebox-system', resourceVersion: '1', annotations: {} },
      spec: { holderIdentity: holder, leaseTransitions: token, leaseDurationSeconds: T.leaseSeconds, renewTime: new Date().toISOString() },
    };
  }

  /** The controller's side: a change that bumps the resourceVersion. */
  change(f: (l: Record<string, any>) => void): void {
    f(this.lease!);
    this.lease!.metadata.resourceVersion = String(++this.rv);
  }

  async request(method: string, _path: string, body?: unknown): Promise<ApiResponse> {
    if (!this.up) throw new Error('ECONNREFUSED');
    if (method === 'GET') return this.lease ? { status: 200, body: structuredClone(this.lease) } : { status: 404, body: {} };
    const b = body as Record<string, any>;
    if (b.metadata.resourceVersion !== this.lease?.metadata.resourceVersion) return { status: 409, body: {} };
    this.puts.push(b);
    this.lease = structuredClone(b);
    this.lease.metadata.resourceVersion = String(++this.rv);
    return { status: 200, body: structuredClone(this.lease) };
  }
}

function owner(api: FakeApi) {
  const events: string[] = [];
  const o = new PeripheralOwner({
    client: api,
    module: 'm1',
    peripheral: 'bus',
    timings: T,
    mono: () => Date.now(),
    wall: () => Date.now(),
    events: {
      acquired: (t) => events.push(`acquired ${t}`),
      lost: (t, r: LossReason) => events.push(`lost ${t} ${r}`),
      confirming: (t) => events.push(`confirming ${t}`),
    },
  });
  return { o, events };
}

const granting = (o: PeripheralOwner) => o.state.token !== null && Date.now() < o.state.validUntil;

describe('PeripheralOwner', () => {
  afterEach(() => vi.useRealTimers());

  it('the holder renews and grants; it stops once renewals fail for the lease minus the margin', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const api = new FakeApi('m1', 3);
    const { o, events } = owner(api);
    o.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(events).toEqual(['acquired 3']);
    expect(granting(o)).toBe(true);
    await vi.advanceTimersByTimeAsync(2000);
    expect(api.puts.length).toBeGreaterThanOrEqual(4);
    api.up = false;
    // Its last renewal went out at most one renew period before the cut: it still grants a
    // second later, and has stopped by lease - margin after the cut.
    await vi.advanceTimersByTimeAsync(1000);
    expect(granting(o)).toBe(true);
    await vi.advanceTimersByTimeAsync(T.leaseSeconds * 1000 - T.grantMarginMs - 1000 + 1);
    expect(granting(o)).toBe(false);
    expect(events).toEqual(['acquired 3', 'lost 3 lease-lapsed']);
    o.stop();
  });

  it('a module that is not the holder never grants', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const api = new FakeApi('m2', 3);
    const { o, events } = owner(api);
    o.start();
    await vi.advanceTimersByTimeAsync(3000);
    expect(granting(o)).toBe(false);
    expect(events).toEqual([]);
    expect(api.puts).toEqual([]);
    o.stop();
  });

  it('handed to another module by the controller: it stops at its next renewal and never writes the Lease again', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const api = new FakeApi('m1', 3);
    const { o, events } = owner(api);
    o.start();
    await vi.advanceTimersByTimeAsync(600);
    api.change((l) => {
      l.spec.holderIdentity = 'm2';
      l.spec.leaseTransitions = 4;
    });
    const puts = api.puts.length;
    await vi.advanceTimersByTimeAsync(T.renewMs + 10);
    expect(events).toEqual(['acquired 3', 'lost 3 not-owner']);
    expect(api.puts.length).toBe(puts);
    expect(api.lease!.spec.holderIdentity).toBe('m2');
    o.stop();
  });

  it('asked to release: it stops, then confirms the token instead of renewing, and does not take it up again', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const api = new FakeApi('m1', 3);
    const { o, events } = owner(api);
    o.start();
    await vi.advanceTimersByTimeAsync(600);
    api.change((l) => {
      l.metadata.annotations[PERIPHERAL_ANNOTATIONS.releaseToken] = '3';
    });
    await vi.advanceTimersByTimeAsync(T.renewMs * 3);
    expect(events).toEqual(['acquired 3', 'lost 3 release-requested', 'confirming 3']);
    expect(api.lease!.metadata.annotations[PERIPHERAL_ANNOTATIONS.releasedToken]).toBe('3');
    expect(granting(o)).toBe(false);
    // Given back to it with a new token, it grants again.
    api.change((l) => {
      l.spec.leaseTransitions = 4;
      l.metadata.annotations = {};
    });
    await vi.advanceTimersByTimeAsync(T.renewMs + 10);
    expect(events.at(-1)).toBe('acquired 4');
    o.stop();
  });
});
