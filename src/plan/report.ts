import pc from 'picocolors';
import type { Severity } from '../diagnostics/diagnostic.js';
import type { Plan, Scenario } from './model.js';
import { columns } from '../base/table.js';

export interface ReportOptions {
  /** Colour the output (only on a terminal; the CLI passes useColor()). Default: false. */
  color?: boolean;
  /** List every scenario instead of only the failing ones. Default: false. */
  allScenarios?: boolean;
  /** Failing scenarios listed before "... and N more" when not listing all. Default: 30. */
  maxScenarios?: number;
}

/** The plan as a terminal report: control plane, placement table, scenarios, findings. */
export function renderPlanReport(plan: Plan, opts: ReportOptions = {}): string {
  const c = pc.createColors(opts.color ?? false);
  const paint: Record<Severity, (s: string) => string> = { error: c.red, warning: c.yellow, info: c.cyan };
  const out: string[] = [];
  const cp = plan.controlPlane;

  out.push(c.bold(`Box ${plan.box}`), '');
  out.push(c.bold('Control plane'));
  out.push(
    ...columns([
      ['servers', cp.servers.map((s, i) => (i === 0 ? `${s} (cluster-init)` : s)).join(', ')],
      ['quorum', `${cp.quorum} of ${cp.servers.length}`],
      ['tolerates', `${cp.failuresTolerated} module failure(s) with no restoration`],
      ['promotable', cp.promotable.join(', ') || c.dim('none')],
      ['API', cp.apiAccess.detail],
    ]).map((l) => `  ${l}`),
    '',
  );

  out.push(c.bold('Placement'));
  const rows = Object.entries(plan.placements).map(([workload, modules]) => {
    const short = plan.unplaced.find((u) => u.workload === workload);
    return [workload, summarize(modules) || '-', short ? c.red(`${short.missingReplicas} unplaced`) : '', (plan.capable[workload] ?? []).join(', ')];
  });
  out.push(...columns([['WORKLOAD', 'REPLICAS ON', '', 'CAPABLE MODULES'].map(c.dim), ...rows]).map((l) => `  ${l}`), '');

  out.push(c.bold('Failure scenarios'));
  for (const size of [1, 2]) {
    const ss = plan.scenarios.filter((s) => s.failed.length === size);
    if (ss.length === 0) continue;
    const count = (f: (s: Scenario) => boolean) => ss.filter(f).length;
    out.push(
      `  ${size === 1 ? 'single failures (N-1)' : 'pair failures (N-2)'}: ${ss.length}, quorum kept ${count((s) => s.quorumKept)}, ` +
        `restorable ${count((s) => s.restorable)}, all workloads placed ${count((s) => s.unplaced.length === 0)}, ` +
        `peripherals orphaned ${count((s) => s.orphanedPeripherals.length > 0)}`,
    );
  }
  const failing = plan.scenarios.filter(isFailing);
  const shown = opts.allScenarios ? plan.scenarios : failing.slice(0, opts.maxScenarios ?? 30);
  if (shown.length) {
    out.push('', opts.allScenarios ? '  every scenario:' : '  failing scenarios:');
    out.push(
      ...columns(
        shown.map((s) => [
          `lose ${s.failed.join(' + ')}`,
          s.quorumKept ? c.green('quorum kept') : s.restorable ? c.yellow('quorum lost, restorable') : c.red('quorum lost, not restorable'),
          s.restorable ? `restores to ${s.votersAfterRestore} voter(s)${s.promoted.length ? ` (promote ${s.promoted.join(', ')})` : ''}` : '-',
          [
            ...s.unplaced.map((u) => `${u.workload} ${u.missingReplicas}/${u.wantedReplicas} unplaced (${u.reason})`),
            ...s.orphanedPeripherals.map((p) => `${p} orphaned`),
          ].join('; '),
        ]),
      ).map((l) => `    ${l}`),
    );
    if (!opts.allScenarios && failing.length > shown.length) {
      out.push(c.dim(`    ... and ${failing.length - shown.length} more failing scenario(s) (--all-scenarios lists them)`));
    }
  }
  out.push('');

  out.push(c.bold('Findings'));
  if (plan.findings.length === 0) out.push(`  ${c.green('none')}`);
  for (const f of plan.findings) {
    out.push(`  ${paint[f.severity](f.severity)} ${f.code}: ${f.message}`, `      hint: ${f.hint}`);
  }
  const tally = (s: Severity) => plan.findings.filter((f) => f.severity === s).length;
  out.push('', `${tally('error') ? c.red(`${tally('error')} error(s)`) : '0 errors'}, ${tally('warning')} warning(s), ${tally('info')} info(s)`, '');
  return out.join('\n');
}

/** A scenario worth listing: the API stops, a workload lacks replicas, or a peripheral loses its drivers. */
export function isFailing(s: Scenario): boolean {
  return !s.quorumKept || s.unplaced.length > 0 || s.orphanedPeripherals.length > 0;
}

/** `a, b x2` for the replica list `[a, b, b]`, keeping first-seen order. */
function summarize(modules: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const m of modules) counts.set(m, (counts.get(m) ?? 0) + 1);
  return [...counts].map(([m, n]) => (n > 1 ? `${m} x${n}` : m)).join(', ');
}
