/** API timestamps: the MicroTime a Lease keeps, and ms since the epoch of any timestamp an object carries. */

/** ms since the epoch of an API timestamp (a string from a watch, a Date from a typed list), or null. */
export function timeOf(v: unknown): number | null {
  if (v instanceof Date) return v.getTime();
  if (typeof v !== 'string' || v === '') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(wallMs: number): string {
  return new Date(wallMs).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
