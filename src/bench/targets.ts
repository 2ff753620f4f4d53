import { table } from '../base/table.js';

/**
 * A benchmark's target: a measured figure held against its bound. `measured` is undefined when
 * the bench could not measure it at all (no sample, every trial failed): that is a miss, never a
 * pass, so a bench that measured nothing cannot report success.
 */
export interface Target {
  name: string;
  measured: number | undefined;
  bound: number;
  unit: string;
  comparison: '<' | '<=' | '>' | '>=' | '=';
}

export function met(t: Target): boolean {
  if (t.measured === undefined || Number.isNaN(t.measured)) return false;
  switch (t.comparison) {
    case '<':
      return t.measured < t.bound;
    case '<=':
      return t.measured <= t.bound;
    case '>':
      return t.measured > t.bound;
    case '>=':
      return t.measured >= t.bound;
    case '=':
      return t.measured === t.bound;
  }
}

const figure = (n: number | undefined, unit: string) =>
  n === undefined || Number.isNaN(n) ? 'not measured' : `${Number.isInteger(n) ? n : n.toFixed(2)} ${unit}`.trimEnd();

/** The targets as a table, one row each with pass or MISS, and a last line saying how many were missed. */
export function targetTable(targets: readonly Target[]): string {
  const rows = targets.map((t) => [t.name, figure(t.measured, t.unit), `${t.comparison} ${figure(t.bound, t.unit)}`, met(t) ? 'pass' : 'MISS']);
  const missed = targets.filter((t) => !met(t)).length;
  return `${table(['TARGET', 'MEASURED', 'BOUND', 'RESULT'], rows)}${missed === 0 ? `all ${targets.length} targets met` : `${missed} of ${targets.length} targets MISSED`}\n`;
}

/**
 * Prints the targets and sets the exit code to 1 when one is missed, so CI and a person running
 * the bench see the same verdict. Returns whether every target was met.
 */
export function reportTargets(targets: readonly Target[], write: (text: string) => void = (text) => process.stdout.write(text)): boolean {
  write(`\n${targetTable(targets)}`);
  const ok = targets.every(met);
  if (!ok) process.exitCode = 1;
  return ok;
}

/** Nearest-rank percentile of a sample (unsorted is fine); undefined for an empty one, which no target passes. */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}
