import type { Diagnostic } from '../diagnostics/diagnostic.js';

/**
 * The grant history: JSON lines, one record per grant, release and device action, written by
 * each module's agent before it answers (so a grant the agent made is always on disk). The
 * format is public: `edgebox peripheral check` reads it, and so can anyone's own tooling.
 *
 *   {"v":1,"kind":"grant","peripheral":"motor-bus","module":"core-1","token":3,"at":"2026-...Z","until":"2026-...Z"}
 *   {"v":1,"kind":"release","peripheral":"motor-bus","module":"core-1","token":3,"at":"...","reason":"lease-lapsed"}
 *
 * A grant lets its holder use the peripheral from `at` until `until` or the next release of
 * the same module and token, whichever is first. `device` records (what the agent did to the
 * device, e.g. `ip link set can0 down`) and `refused` records (a request it turned down) are
 * kept for people reading the log; the checker skips them.
 */

export const HISTORY_VERSION = 1;
export const RECORD_KINDS = ['grant', 'release', 'refused', 'device'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export interface HistoryRecord {
  v: typeof HISTORY_VERSION;
  kind: RecordKind;
  peripheral: string;
  module: string;
  token: number;
  /** RFC 3339 with ms. */
  at: string;
  /** Grants: the end of the grant's validity. */
  until?: string;
  /** Releases, refusals and device actions: why, or what was done. */
  reason?: string;
}

export interface LocatedRecord extends HistoryRecord {
  file: string;
  line: number;
  atMs: number;
  untilMs?: number;
}

export function formatRecord(r: HistoryRecord): string {
  return `${JSON.stringify(r)}\n`;
}

const HINT =
  'each line must be one JSON object {"v":1,"kind":"grant|release|refused|device","peripheral","module","token":<integer>,"at":"<RFC 3339>"} and grants an "until"';

/** Parses one history file's text: the records, or a diagnostic per bad line (file:line). Pure. */
export function parseHistory(text: string, file: string): { records: LocatedRecord[]; problems: Diagnostic[] } {
  const records: LocatedRecord[] = [];
  const problems: Diagnostic[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    const bad = (message: string) =>
      problems.push({ code: 'peripheral.bad-history', severity: 'error', message, hint: HINT, location: { file, line, col: 1 } });
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch (e) {
      bad(`not JSON (${(e as Error).message})`);
      return;
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return void bad('not a JSON object');
    const r = o as Record<string, unknown>;
    if (r.v !== HISTORY_VERSION) return void bad(`unknown version ${JSON.stringify(r.v)} (this edgebox reads version ${HISTORY_VERSION})`);
    if (!(RECORD_KINDS as readonly unknown[]).includes(r.kind)) return void bad(`unknown kind ${JSON.stringify(r.kind)}`);
    for (const k of ['peripheral', 'module'] as const) if (typeof r[k] !== 'string' || r[k] === '') return void bad(`"${k}" must be a non-empty string`);
    if (!Number.isSafeInteger(r.token) || (r.token as number) < 0) return void bad('"token" must be a non-negative integer');
    const atMs = typeof r.at === 'string' ? Date.parse(r.at) : Number.NaN;
    if (Number.isNaN(atMs)) return void bad('"at" must be an RFC 3339 time');
    let untilMs: number | undefined;
    if (r.kind === 'grant') {
      untilMs = typeof r.until === 'string' ? Date.parse(r.until) : Number.NaN;
      if (Number.isNaN(untilMs)) return void bad('a grant needs "until", an RFC 3339 time');
      if (untilMs < atMs) return void bad('a grant\'s "until" is before its "at"');
    }
    records.push({
      v: HISTORY_VERSION,
      kind: r.kind as RecordKind,
      peripheral: r.peripheral as string,
      module: r.module as string,
      token: r.token as number,
      at: r.at as string,
      ...(typeof r.until === 'string' ? { until: r.until } : {}),
      ...(typeof r.reason === 'string' ? { reason: r.reason } : {}),
      file,
      line,
      atMs,
      ...(untilMs !== undefined ? { untilMs } : {}),
    });
  });
  return { records, problems };
}
