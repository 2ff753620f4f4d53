import { checkHistory } from '../peripherals/check.js';
import { clockSpans, onRunnerClock } from './grant-clock.js';
import type { HistoryEvent } from './history.js';

/**
 * The checker: what one trial's history (history.ts) proves or refutes. Pure; the order of the
 * events does not matter. Invariants:
 *  - lost-write: every acknowledged write is read back at the end, with the resourceVersion it
 *    was acknowledged with;
 *  - two-clusters: no sampling round saw two etcd cluster IDs that both had a leader (both
 *    accepting writes);
 *  - peripheral-token / peripheral-holder: the Lease's fencing token never goes down, and the
 *    holder never changes without it going up; grant-overlap / grant-token: no two modules'
 *    grants overlap and a later grant never carries a smaller token (the agents' grant
 *    histories, src/peripherals/check.ts, put on the runner's clock first: grant-clock.ts);
 *  - false-fence: no module is fenced that, by the injector's own record, was alive and renewing
 *    its node throughout the `renewWindowMs` before the fence (a module cut off from the API is
 *    not renewing; one whose agent alone died is);
 *  - recovery: after the last fault is lifted, a healthy sample (every node Ready, the voters, a
 *    controller leader, every workload Ready) within `recoveryTargetMs`.
 */

export const VIOLATION_KINDS = [
  'lost-write',
  'two-clusters',
  'peripheral-token',
  'peripheral-holder',
  'grant-overlap',
  'grant-token',
  'false-fence',
  'recovery',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface ChaosViolation {
  kind: ViolationKind;
  /** When it happened (runner clock, ms), where known. */
  at?: number;
  message: string;
}

export interface CheckOptions {
  /** A fence is false when the module renewed throughout this long before it. */
  renewWindowMs: number;
  recoveryTargetMs: number;
}

export interface TrialVerdict {
  violations: ChaosViolation[];
  /** Last heal -> first healthy sample; null when never healthy. */
  recoveryMs: number | null;
  acked: number;
}

export function checkTrial(events: readonly HistoryEvent[], o: CheckOptions): TrialVerdict {
  const sorted = [...events].sort((a, b) => a.t - b.t);
  const { violations: recoveryViolations, recoveryMs } = recovery(sorted, o.recoveryTargetMs);
  const violations = [
    ...lostWrites(sorted),
    ...twoClusters(sorted),
    ...peripheralLeases(sorted),
    ...grants(sorted),
    ...falseFences(sorted, o.renewWindowMs),
    ...recoveryViolations,
  ];
  return { violations: violations.sort((a, b) => (a.at ?? 0) - (b.at ?? 0)), recoveryMs, acked: sorted.filter((e) => e.type === 'ack').length };
}

type Of<T extends HistoryEvent['type']> = Extract<HistoryEvent, { type: T }>;
const only = <T extends HistoryEvent['type']>(events: readonly HistoryEvent[], type: T): Of<T>[] => events.filter((e): e is Of<T> => e.type === type);

function lostWrites(events: readonly HistoryEvent[]): ChaosViolation[] {
  const acks = only(events, 'ack');
  const final = only(events, 'final').at(-1);
  if (!final) {
    return acks.length ? [{ kind: 'lost-write', message: `${acks.length} acknowledged writes, and no final read-back to prove them` }] : [];
  }
  return acks.flatMap((a): ChaosViolation[] => {
    const rv = final.present[a.name];
    if (rv === undefined) return [{ kind: 'lost-write', at: a.t, message: `${a.name} acknowledged with resourceVersion ${a.rv} is gone at the end` }];
    // resourceVersion is opaque: compared for equality only. Nothing updates these objects.
    if (rv !== a.rv) return [{ kind: 'lost-write', at: a.t, message: `${a.name} acknowledged with resourceVersion ${a.rv} reads back as ${rv}` }];
    return [];
  });
}

function twoClusters(events: readonly HistoryEvent[]): ChaosViolation[] {
  return only(events, 'etcd').flatMap((round): ChaosViolation[] => {
    const led = new Map<string, string[]>();
    for (const m of round.members) if (m.leaderId) led.set(m.clusterId, [...(led.get(m.clusterId) ?? []), m.module]);
    if (led.size < 2) return [];
    const sides = [...led.entries()].map(([id, ms]) => `cluster ${id} (${ms.join(', ')})`).join(' and ');
    return [{ kind: 'two-clusters', at: round.t, message: `two etcd clusters with a leader at once: ${sides}` }];
  });
}

function peripheralLeases(events: readonly HistoryEvent[]): ChaosViolation[] {
  const last = new Map<string, Of<'lease'>>();
  const out: ChaosViolation[] = [];
  for (const l of only(events, 'lease')) {
    const prev = last.get(l.peripheral);
    last.set(l.peripheral, l);
    if (!prev) continue;
    if (l.token < prev.token) {
      out.push({ kind: 'peripheral-token', at: l.t, message: `${l.peripheral}: token went from ${prev.token} to ${l.token}` });
    } else if (l.token === prev.token && l.holder !== null && prev.holder !== null && l.holder !== prev.holder) {
      out.push({ kind: 'peripheral-holder', at: l.t, message: `${l.peripheral}: holder ${prev.holder} -> ${l.holder} with the same token ${l.token}` });
    }
  }
  return out;
}

function grants(events: readonly HistoryEvent[]): ChaosViolation[] {
  const records = onRunnerClock(
    only(events, 'grant').map((g) => ({ record: g.record, seen: g.t })),
    clockSpans(events),
  );
  return checkHistory(records).violations.map((v): ChaosViolation => ({
    kind: v.kind === 'overlap' ? 'grant-overlap' : 'grant-token',
    at: v.second.start,
    message: `${v.peripheral}: ${v.kind} of ${v.first.module} (token ${v.first.token}, ${v.first.file}:${v.first.line}) and ${v.second.module} (token ${v.second.token}, ${v.second.file}:${v.second.line})`,
  }));
}

/** Each fence that starts within the history: the node, and when (the controller's fenced-at, else when first seen). */
export function fenceOnsets(events: readonly HistoryEvent[]): { node: string; at: number }[] {
  const start = events[0]?.t ?? 0;
  const fenced = new Map<string, boolean>();
  const out: { node: string; at: number }[] = [];
  for (const n of only(events, 'node')) {
    const was = fenced.get(n.node);
    fenced.set(n.node, n.fenced);
    if (!n.fenced || was === true) continue;
    // Seen fenced first thing: a fence from before this history, unless its annotation says otherwise.
    if (was === undefined && (n.fencedAt === undefined || n.fencedAt < start)) continue;
    out.push({ node: n.node, at: n.fencedAt !== undefined && n.fencedAt >= start ? Math.min(n.fencedAt, n.t) : n.t });
  }
  return out;
}

/** Intervals in which the injector had `module` not renewing (dead or off the API). */
function notRenewing(events: readonly HistoryEvent[], module: string): [number, number][] {
  const heals = new Map(only(events, 'heal').map((h) => [h.fault, h.t]));
  return only(events, 'inject')
    .filter((i) => i.notRenewing.includes(module))
    .map((i) => [i.t, heals.get(i.fault) ?? Number.POSITIVE_INFINITY]);
}

function falseFences(events: readonly HistoryEvent[], windowMs: number): ChaosViolation[] {
  return fenceOnsets(events).flatMap(({ node, at }): ChaosViolation[] => {
    const excused = notRenewing(events, node).some(([from, to]) => from <= at && to >= at - windowMs);
    if (excused) return [];
    return [{ kind: 'false-fence', at, message: `${node} was fenced while alive and renewing (no fault stopped it in the ${windowMs} ms before)` }];
  });
}

function recovery(events: readonly HistoryEvent[], targetMs: number): { violations: ChaosViolation[]; recoveryMs: number | null } {
  const healed = only(events, 'healed').at(-1);
  if (!healed) return { violations: [{ kind: 'recovery', message: 'the faults were never all lifted' }], recoveryMs: null };
  const back = only(events, 'health').find((h) => h.t >= healed.t && h.healthy);
  if (!back) {
    const lastSeen = only(events, 'health').at(-1);
    return {
      violations: [
        { kind: 'recovery', at: healed.t, message: `not healthy after the last heal${lastSeen ? ` (missing: ${lastSeen.missing.join('; ')})` : ''}` },
      ],
      recoveryMs: null,
    };
  }
  const ms = back.t - healed.t;
  if (ms > targetMs)
    return { violations: [{ kind: 'recovery', at: back.t, message: `healthy ${ms} ms after the last heal, target ${targetMs} ms` }], recoveryMs: ms };
  return { violations: [], recoveryMs: ms };
}
