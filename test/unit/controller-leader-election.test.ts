import { describe, expect, it } from 'vitest';
import { electionStep, leaseBody, mustStepDown, observe, type LeaseRecord, type Observation } from '../../src/controller/leader-election.js';

const rec = (holder: string, resourceVersion = '1', transitions = 3): LeaseRecord => ({ holder, resourceVersion, transitions });
const seen = (record: LeaseRecord, seenAt: number): Observation => ({ record, seenAt });

describe('electionStep', () => {
  it.each([
    ['no Lease', undefined, 10_000, { kind: 'create' }],
    ['a live holder (seen 1 s ago)', seen(rec('b'), 9000), 10_000, { kind: 'wait', holder: 'b' }],
    ['a holder unchanged for 3.999 s', seen(rec('b'), 6001), 10_000, { kind: 'wait', holder: 'b' }],
    ['a holder unchanged for the lease duration (expired)', seen(rec('b'), 6000), 10_000, { kind: 'acquire', transitions: 4 }],
    ['a released Lease (empty holder)', seen(rec(''), 9999), 10_000, { kind: 'acquire', transitions: 4 }],
    ['our own Lease', seen(rec('a'), 0), 10_000, { kind: 'renew' }],
  ])('%s', (_what, lease, now, expected) => {
    expect(electionStep({ id: 'a', lease, now, leaseMs: 4000 })).toEqual(expected);
  });
});

describe('observe', () => {
  it('keeps the first time a record was seen while its resourceVersion stays the same', () => {
    const first = observe(undefined, rec('b', '7'), 100);
    expect(observe(first, rec('b', '7'), 5000)).toEqual({ record: rec('b', '7'), seenAt: 100 });
  });

  it('a renewal (new resourceVersion) restarts the clock: a renewing holder never expires', () => {
    const first = observe(undefined, rec('b', '7'), 100);
    expect(observe(first, rec('b', '8'), 3000)).toEqual({ record: rec('b', '8'), seenAt: 3000 });
  });

  it('no Lease, no observation', () => {
    expect(observe(seen(rec('b'), 1), undefined, 5)).toBeUndefined();
  });

  it('a holder whose renewals stop is taken over one lease after the last renewal was seen, not by its clock', () => {
    let o: Observation | undefined;
    const steps: string[] = [];
    // Renewals at 0, 1000, 2000; then silence. Polled every 500 ms.
    for (let t = 0; t <= 7000; t += 500) {
      const rv = String(Math.min(2, Math.floor(t / 1000)));
      o = observe(o, rec('b', rv), t);
      steps.push(electionStep({ id: 'a', lease: o, now: t, leaseMs: 4000 }).kind);
    }
    expect(steps.indexOf('acquire') * 500).toBe(6000);
  });
});

describe('mustStepDown', () => {
  it.each([
    [0, 2999, false],
    [0, 3000, false],
    [0, 3001, true],
  ])('last renewal at %i ms, now %i ms: %s', (last, now, expected) => {
    expect(mustStepDown(last, now, 3000)).toBe(expected);
  });
});

describe('leaseBody', () => {
  it('writes holder, duration, transitions and MicroTime stamps, with the resourceVersion as precondition', () => {
    const body = leaseBody({
      id: 'controller-1',
      now: Date.parse('2026-03-01T12:00:01.250Z'),
      leaseMs: 4000,
      transitions: 2,
      acquiredAt: Date.parse('2026-03-01T12:00:00.000Z'),
      resourceVersion: '42',
    });
    expect(JSON.parse(JSON.stringify(body))).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'edgebox-controller', namespace: 'edgebox-system', resourceVersion: '42' },
      spec: {
        holderIdentity: 'controller-1',
        leaseDurationSeconds: 4,
        leaseTransitions: 2,
        acquireTime: '2026-03-01T12:00:00.000000Z',
        renewTime: '2026-03-01T12:00:01.250000Z',
      },
    });
  });
});
