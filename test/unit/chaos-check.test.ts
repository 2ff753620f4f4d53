import type { V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { checkTrial, type ViolationKind } from '../../src/chaos/check.js';
import { staleNodeLeases } from '../../src/chaos/health.js';
import type { HistoryEvent } from '../../src/chaos/history.js';
import type { LocatedRecord } from '../../src/peripherals/history.js';

const OPTS = { renewWindowMs: 10_000, recoveryTargetMs: 30_000 };

/** A clean trial: s2 killed at 1 s, revived at 5 s, fenced meanwhile; two writes read back; healthy 8 s after the heal. */
const clean: HistoryEvent[] = [
  { type: 'node', t: 0, node: 's2', ready: true, fenced: false },
  { type: 'ack', t: 100, name: 'w-1', rv: '101' },
  { type: 'lease', t: 200, peripheral: 'bus', holder: 'a1', token: 3 },
  { type: 'inject', t: 1000, fault: 0, kind: 'module-kill', targets: ['s2'], notRenewing: ['s2'] },
  { type: 'etcd', t: 1500, members: [{ module: 's1', clusterId: 'c1', memberId: 'm1', leaderId: 'm1' }] },
  { type: 'node', t: 3000, node: 's2', ready: false, fenced: true, fencedAt: 2900 },
  { type: 'lease', t: 3500, peripheral: 'bus', holder: 'a2', token: 4 },
  { type: 'ack', t: 4000, name: 'w-2', rv: '150' },
  { type: 'write-failed', t: 4200, name: 'w-3', error: 'timeout' },
  { type: 'heal', t: 5000, fault: 0 },
  { type: 'healed', t: 5000 },
  { type: 'health', t: 9000, healthy: false, missing: ['node s2 not Ready'] },
  { type: 'health', t: 13_000, healthy: true, missing: [] },
  { type: 'final', t: 14_000, present: { 'w-1': '101', 'w-2': '150' } },
];

const grant = (module: string, token: number, atMs: number, untilMs: number, line: number): LocatedRecord => ({
  v: 1,
  kind: 'grant',
  peripheral: 'bus',
  module,
  token,
  at: new Date(atMs).toISOString(),
  until: new Date(untilMs).toISOString(),
  atMs,
  untilMs,
  file: `${module}.jsonl`,
  line,
});

const without = (type: HistoryEvent['type']) => clean.filter((e) => e.type !== type);

/** a2's clock 89 s ahead from t=100 to t=60 s; its grant of token 3 at runner time 1-3 s, seen at 1.5 s; then `then`. */
const a2Ahead89s = (then: HistoryEvent): HistoryEvent[] => [
  ...clean,
  { type: 'inject', t: 100, fault: 1, kind: 'clock-ahead', targets: ['a2'], notRenewing: [], clockOffsetMs: 89_000 },
  { type: 'grant', t: 1500, record: grant('a2', 3, 1000 + 89_000, 3000 + 89_000, 1) },
  then,
  { type: 'heal', t: 60_000, fault: 1 },
];

const cases: [string, HistoryEvent[], ViolationKind[]][] = [
  ['a clean trial', clean, []],
  ['an acknowledged write missing at the end', [...without('final'), { type: 'final', t: 14_000, present: { 'w-1': '101' } }], ['lost-write']],
  [
    'an acknowledged write read back with another version',
    [...without('final'), { type: 'final', t: 14_000, present: { 'w-1': '101', 'w-2': '151' } }],
    ['lost-write'],
  ],
  ['acknowledged writes and no read-back', without('final'), ['lost-write']],
  ['an unacknowledged write missing (proves nothing)', [...clean, { type: 'write-failed', t: 4300, name: 'w-4', error: 'HTTP 500' }], []],
  [
    'two clusters with a leader in one round',
    [
      ...clean,
      {
        type: 'etcd',
        t: 2000,
        members: [
          { module: 's1', clusterId: 'c1', memberId: 'm1', leaderId: 'm1' },
          { module: 's3', clusterId: 'c9', memberId: 'm3', leaderId: 'm3' },
        ],
      },
    ],
    ['two-clusters'],
  ],
  [
    'a second cluster id without a leader (accepts no writes)',
    [
      ...clean,
      {
        type: 'etcd',
        t: 2000,
        members: [
          { module: 's1', clusterId: 'c1', memberId: 'm1', leaderId: 'm1' },
          { module: 's3', clusterId: 'c9', memberId: 'm3' },
        ],
      },
    ],
    [],
  ],
  ['the peripheral token going down', [...clean, { type: 'lease', t: 4500, peripheral: 'bus', holder: 'a2', token: 2 }], ['peripheral-token']],
  ['a new holder with the same token', [...clean, { type: 'lease', t: 4500, peripheral: 'bus', holder: 'a1', token: 4 }], ['peripheral-holder']],
  [
    'grants that never overlap',
    [...clean, { type: 'grant', t: 1, record: grant('a1', 3, 0, 1000, 1) }, { type: 'grant', t: 2, record: grant('a2', 4, 2000, 3000, 1) }],
    [],
  ],
  [
    'two modules granted at once',
    [...clean, { type: 'grant', t: 1, record: grant('a1', 3, 0, 2500, 1) }, { type: 'grant', t: 2, record: grant('a2', 4, 2000, 3000, 1) }],
    ['grant-overlap'],
  ],
  [
    'a later grant with a smaller token',
    [...clean, { type: 'grant', t: 1, record: grant('a1', 4, 0, 1000, 1) }, { type: 'grant', t: 2, record: grant('a2', 3, 2000, 3000, 1) }],
    ['grant-token'],
  ],
  [
    // Seed 2 trial 11: a2's clock 89 s ahead while it held the bus; a1 took it over later. As
    // written, a2's grant seems to come after a1's with a smaller token; the runner saw them in order.
    "a grant written by a clock 89 s ahead, then the next holder's: put back on the runner's clock, in order",
    a2Ahead89s({ type: 'grant', t: 5500, record: grant('a1', 4, 5000, 8000, 1) }),
    [],
  ],
  ['a real overlap is still one under a clock fault', a2Ahead89s({ type: 'grant', t: 2500, record: grant('a1', 4, 2000, 4000, 1) }), ['grant-overlap']],
  [
    'a grant written by a clock 20 s behind, after a grant of another module: in order',
    [
      ...clean,
      { type: 'grant', t: 1500, record: grant('a1', 3, 1000, 3000, 1) },
      { type: 'inject', t: 3500, fault: 1, kind: 'clock-behind', targets: ['a2'], notRenewing: [], clockOffsetMs: -20_000 },
      { type: 'grant', t: 5500, record: grant('a2', 4, 5000 - 20_000, 8000 - 20_000, 1) },
      { type: 'heal', t: 60_000, fault: 1 },
    ],
    [],
  ],
  [
    'a module fenced whose agent alone was restarted (the kubelet kept renewing)',
    [
      { type: 'inject', t: 500, fault: 1, kind: 'agent-restart', targets: ['a1'], notRenewing: [] },
      { type: 'node', t: 600, node: 'a1', ready: true, fenced: false },
      { type: 'node', t: 2000, node: 'a1', ready: true, fenced: true, fencedAt: 1900 },
      { type: 'heal', t: 4000, fault: 1 },
      ...clean,
    ],
    ['false-fence'],
  ],
  [
    'a module fenced while cut off from the API (not renewing)',
    [
      { type: 'inject', t: 500, fault: 1, kind: 'isolate', targets: ['a1'], notRenewing: ['a1'] },
      { type: 'node', t: 600, node: 'a1', ready: true, fenced: false },
      { type: 'node', t: 2000, node: 'a1', ready: true, fenced: true, fencedAt: 1900 },
      { type: 'heal', t: 4000, fault: 1 },
      ...clean,
    ],
    [],
  ],
  [
    'a module fenced long after its fault was lifted',
    [
      { type: 'inject', t: 500, fault: 1, kind: 'isolate', targets: ['a1'], notRenewing: ['a1'] },
      { type: 'node', t: 600, node: 'a1', ready: true, fenced: false },
      { type: 'heal', t: 1000, fault: 1 },
      { type: 'node', t: 12_000, node: 'a1', ready: true, fenced: true, fencedAt: 11_900 },
      ...clean,
    ],
    ['false-fence'],
  ],
  ['a fence that was there before the trial', [...clean, { type: 'node', t: 50, node: 'a2', ready: true, fenced: true, fencedAt: -5000 }], []],
  ['never healthy after the heal', without('health'), ['recovery']],
  ['healthy only after the target', [...without('health'), { type: 'health', t: 40_000, healthy: true, missing: [] }], ['recovery']],
  ['faults never lifted', without('healed'), ['recovery']],
];

describe('checkTrial', () => {
  it.each(cases)('%s', (_title, events, kinds) => {
    const verdict = checkTrial(events, OPTS);
    expect(verdict.violations.map((v) => v.kind)).toEqual(kinds);
  });

  it('times recovery from the last heal to the first healthy sample', () => {
    expect(checkTrial(clean, OPTS)).toMatchObject({ recoveryMs: 8000, acked: 2 });
  });

  it('ignores the order the recorders wrote in', () => {
    expect(checkTrial([...clean].reverse(), OPTS)).toEqual(checkTrial(clean, OPTS));
  });
});

describe('staleNodeLeases: the runner calls a box whole only while its simulated kubelets renew', () => {
  const lease = (name: string, renewedAt: number | null, durationSeconds = 2): V1Lease => ({
    metadata: { name },
    spec: { leaseDurationSeconds: durationSeconds, ...(renewedAt === null ? {} : { renewTime: new Date(renewedAt) }) },
  });
  const now = 1_000_000;

  it('names a module whose Lease is older than two durations (at least 4 s), never renewed, or missing', () => {
    const leases = [lease('s1', now - 3_900), lease('s2', now - 4_100), lease('s3', null), lease('a1', now - 19_000, 10), lease('a2', now - 21_000, 10)];
    expect(staleNodeLeases(['s1', 's2', 's3', 'a1', 'a2', 'a3'], leases, now)).toEqual(['s2', 's3', 'a2', 'a3']);
  });
});
