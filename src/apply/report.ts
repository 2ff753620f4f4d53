import type { Diagnostic } from '../diagnostics/diagnostic.js';
import type { ApplyReport } from './apply.js';
import { toYaml, unifiedDiff } from './diff.js';
import type { Action } from './plan.js';

export type Outcome = 'created' | 'updated' | 'unchanged' | 'pruned' | 'labelled' | 'missing-node';

/** One line of the report: what happened (or, in a dry run, would happen) to one object. */
export interface ActionView {
  outcome: Outcome;
  kind: string;
  name: string;
  namespace?: string;
  /** Unified diff of the object's YAML, or the node's label and taint changes. */
  diff: string[];
}

export interface ReportView {
  box: string;
  dryRun: boolean;
  actions: ActionView[];
  summary: Record<Outcome, number>;
  diagnostics: Diagnostic[];
}

/** The report as `-o json` prints it: small, stable fields instead of whole objects. */
export function reportView(report: ApplyReport): ReportView {
  const actions = report.actions.map(view);
  const summary: Record<Outcome, number> = { created: 0, updated: 0, unchanged: 0, pruned: 0, labelled: 0, 'missing-node': 0 };
  for (const a of actions) summary[a.outcome]++;
  return { box: report.box, dryRun: report.dryRun, actions, summary, diagnostics: report.diagnostics };
}

function view(a: Action): ActionView {
  switch (a.type) {
    case 'create':
      return { outcome: 'created', ...ref(a.ref), diff: unifiedDiff('', toYaml(a.desired)) };
    case 'update':
      return { outcome: 'updated', ...ref(a.ref), diff: unifiedDiff(toYaml(a.before), toYaml(a.after)) };
    case 'unchanged':
      return { outcome: 'unchanged', ...ref(a.ref), diff: [] };
    case 'prune':
      return { outcome: 'pruned', ...ref(a.ref), diff: unifiedDiff(toYaml(a.before), '') };
    case 'label-node':
      return { outcome: 'labelled', ...ref(a.ref), diff: a.changes.map((c) => `${c.op} ${c.what}`) };
    case 'missing-node':
      return { outcome: 'missing-node', kind: 'Node', name: a.module, diff: [] };
  }
}

function ref(r: { kind: string; name: string; namespace?: string }) {
  return { kind: r.kind, name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) };
}

/** What a dry run says instead of the past tense. */
const FUTURE: Record<Outcome, string> = {
  created: 'create',
  updated: 'update',
  unchanged: 'unchanged',
  pruned: 'delete',
  labelled: 'label',
  'missing-node': 'no node',
};

/**
 * The text report: one line per object; a dry run adds each change's diff. `paint` colours
 * diff lines (identity when not writing to a terminal).
 */
export function formatReport(r: ReportView, paint: (line: string) => string = (l) => l): string {
  const width = Math.max(...r.actions.map((a) => label(a, r.dryRun).length), 0);
  const lines: string[] = [];
  for (const a of r.actions) {
    lines.push(`${label(a, r.dryRun).padEnd(width)}  ${a.kind} ${a.namespace ? `${a.namespace}/` : ''}${a.name}`);
    // Node changes are short and worth seeing either way; object diffs only when asked for.
    if (a.outcome === 'labelled' || r.dryRun) for (const d of a.diff) lines.push(`    ${paint(d)}`);
  }
  const s = r.summary;
  const counts = [
    `${s.created} ${r.dryRun ? 'to create' : 'created'}`,
    `${s.updated} ${r.dryRun ? 'to update' : 'updated'}`,
    `${s.unchanged} unchanged`,
    `${s.pruned} ${r.dryRun ? 'to delete' : 'deleted'}`,
    `${s.labelled} node${s.labelled === 1 ? '' : 's'} ${r.dryRun ? 'to label' : 'labelled'}`,
  ];
  if (s['missing-node']) counts.push(`${s['missing-node']} module${s['missing-node'] === 1 ? '' : 's'} without a node`);
  const changed = s.created + s.updated + s.pruned + s.labelled;
  const verdict = r.dryRun ? 'dry run, nothing was changed' : changed ? 'applied' : 'no changes';
  lines.push(`box ${r.box}: ${verdict} (${counts.join(', ')})`);
  return `${lines.join('\n')}\n`;
}

function label(a: ActionView, dryRun: boolean): string {
  return dryRun ? FUTURE[a.outcome] : a.outcome;
}
