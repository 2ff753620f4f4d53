import type { LocatedRecord } from './history.js';

/**
 * The history checker (`edgebox peripheral check`): for each peripheral, no two modules may
 * hold a grant at the same instant, and a grant that starts later never carries a smaller
 * fencing token. Pure; the order of the records does not matter (each agent writes its own
 * file, and they are merged here).
 */

/** One grant's effective span: from `at` to `until`, cut short by a release of the same module and token. */
export interface GrantSpan {
  peripheral: string;
  module: string;
  token: number;
  start: number;
  end: number;
  file: string;
  line: number;
}

export type Violation =
  | { kind: 'overlap'; peripheral: string; first: GrantSpan; second: GrantSpan }
  | { kind: 'token-regression'; peripheral: string; first: GrantSpan; second: GrantSpan };

export interface PeripheralSummary {
  peripheral: string;
  grants: number;
  releases: number;
  /** Modules in the order they first held it. */
  holders: string[];
  tokens: number[];
}

export interface CheckResult {
  ok: boolean;
  records: number;
  peripherals: PeripheralSummary[];
  violations: Violation[];
}

/** Grants with their release cuts applied. */
export function grantSpans(records: readonly LocatedRecord[]): GrantSpan[] {
  const releases = new Map<string, number[]>();
  const key = (r: { peripheral: string; module: string; token: number }) => `${r.peripheral}\u0000${r.module}\u0000${r.token}`;
  for (const r of records) if (r.kind === 'release') (releases.get(key(r)) ?? releases.set(key(r), []).get(key(r))!).push(r.atMs);
  for (const list of releases.values()) list.sort((a, b) => a - b);
  return records
    .filter((r) => r.kind === 'grant')
    .map((g) => {
      // The first release at or after the grant ends it (a release before it belongs to an earlier grant).
      const cut = releases.get(key(g))?.find((t) => t >= g.atMs);
      const end = Math.min(g.untilMs!, cut ?? Number.POSITIVE_INFINITY);
      return { peripheral: g.peripheral, module: g.module, token: g.token, start: g.atMs, end, file: g.file, line: g.line };
    });
}

const bySpan = (a: GrantSpan, b: GrantSpan) =>
  a.start - b.start || a.token - b.token || a.end - b.end || a.module.localeCompare(b.module) || a.file.localeCompare(b.file) || a.line - b.line;

export function checkHistory(records: readonly LocatedRecord[]): CheckResult {
  const spans = grantSpans(records);
  const names = [...new Set(records.map((r) => r.peripheral))].sort();
  const violations: Violation[] = [];
  const peripherals = names.map((peripheral): PeripheralSummary => {
    const all = spans.filter((s) => s.peripheral === peripheral).sort(bySpan);
    const own = all.filter((s) => s.end > s.start);
    // Sweep by start: for each module, the grant of it that reaches furthest so far. A grant
    // that starts before another module's furthest end overlaps it.
    const furthest = new Map<string, GrantSpan>();
    for (const s of own) {
      for (const [module, f] of furthest) {
        if (module !== s.module && f.end > s.start) {
          violations.push({ kind: 'overlap', peripheral, first: f, second: s });
          break;
        }
      }
      const f = furthest.get(s.module);
      if (!f || s.end > f.end) furthest.set(s.module, s);
    }
    // Every grant counts for its token, even one released the instant it began (its lease lapsed
    // at once): its token was issued, so a later grant with a smaller one is a stale fence.
    let maxToken: GrantSpan | undefined;
    for (const s of all) {
      if (maxToken && s.token < maxToken.token && s.start > maxToken.start)
        violations.push({ kind: 'token-regression', peripheral, first: maxToken, second: s });
      if (!maxToken || s.token > maxToken.token) maxToken = s;
    }
    const holders: string[] = [];
    for (const s of own) if (holders[holders.length - 1] !== s.module) holders.push(s.module);
    return {
      peripheral,
      grants: records.filter((r) => r.peripheral === peripheral && r.kind === 'grant').length,
      releases: records.filter((r) => r.peripheral === peripheral && r.kind === 'release').length,
      holders,
      tokens: [...new Set(own.map((s) => s.token))].sort((a, b) => a - b),
    };
  });
  return { ok: violations.length === 0, records: records.length, peripherals, violations };
}
