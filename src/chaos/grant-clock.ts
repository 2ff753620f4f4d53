import type { LocatedRecord } from '../peripherals/history.js';
import type { HistoryEvent } from './history.js';

/**
 * The agents write their grant histories by their own module's wall clock, which the clock faults
 * step (by tens of seconds). Compared as written, a grant made while its module ran ahead seems to
 * last into the next holder's grant, and the checker reported an overlap and a token going down
 * that never happened (chaos seed 2 trial 11, seed 3 trial 78; the runner saw one owner at a
 * time). Here each record goes back on the runner's clock. Pure.
 *
 * What is known of a record: when it was written by its module's clock (`at`), when the runner
 * first saw it in the file (the recorder reads the files every second), and the offsets the
 * injector gave its module's clock. Its runner time is its `at` less the offset that was in
 * effect, and the offset is the one that puts it just before it was seen: a step is tens of
 * seconds, the reading lag about one.
 */

/** A span of runner time during which a module's clock ran `offsetMs` off. */
export interface ClockSpan {
  module: string;
  from: number;
  to: number;
  offsetMs: number;
}

/** The clock faults of a trial, from its inject and heal events. */
export function clockSpans(events: readonly HistoryEvent[]): ClockSpan[] {
  const heals = new Map<number, number>();
  for (const e of events) if (e.type === 'heal') heals.set(e.fault, e.t);
  const spans: ClockSpan[] = [];
  for (const e of events) {
    if (e.type !== 'inject' || e.clockOffsetMs === undefined || e.clockOffsetMs === 0) continue;
    for (const module of e.targets) spans.push({ module, from: e.t, to: heals.get(e.fault) ?? Number.POSITIVE_INFINITY, offsetMs: e.clockOffsetMs });
  }
  return spans;
}

/** A record is seen at most this long after it was written (the recorder's period, plus a read). */
export const SEEN_LAG_MS = 3000;

/**
 * The records with `atMs`/`untilMs` on the runner's clock. `seen`: when the runner first read
 * each (a grant event's `t`). Of the offsets its module's clock may have had (none, or a clock
 * fault's), the one that puts it at or just before `seen` wins; a record no offset explains is
 * left as written.
 */
export function onRunnerClock(grants: readonly { record: LocatedRecord; seen: number }[], spans: readonly ClockSpan[]): LocatedRecord[] {
  return grants.map(({ record: r, seen }) => {
    const offsets = [0, ...spans.filter((s) => s.module === r.module).map((s) => s.offsetMs)];
    const lag = (offset: number) => seen - (r.atMs - offset);
    const fitting = offsets.filter((o) => lag(o) >= -SEEN_LAG_MS && lag(o) <= SEEN_LAG_MS * 4);
    if (fitting.length === 0) return r;
    const offset = fitting.reduce((best, o) => (Math.abs(lag(o)) < Math.abs(lag(best)) ? o : best));
    return { ...r, atMs: r.atMs - offset, ...(r.untilMs !== undefined ? { untilMs: r.untilMs - offset } : {}) };
  });
}
