import { ACCELERATOR_TAINT, FIELD_MANAGER, LABELS } from '../contract/labels.js';
import type { Taint } from '../contract/taints.js';

/** What apply wants on the node of one module: nodeLabels() and nodeTaints() of the spec. */
export interface ModuleIntent {
  module: string;
  labels: Record<string, string>;
  taints: Taint[];
}

/** The parts of a live Node the planner reads. */
export interface ObservedNode {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    managedFields?: { manager?: string; operation?: string; subresource?: string; fieldsV1?: unknown }[];
  };
  spec?: { taints?: Taint[] };
}

/**
 * Taint keys apply owns on nodes. Only these are added, replaced or removed; every other taint
 * (the node lifecycle controller's `node.kubernetes.io/unreachable`, an operator's own, or a
 * future edgebox agent's fencing taint) is left as it is.
 */
export const APPLY_TAINT_KEYS: readonly string[] = [ACCELERATOR_TAINT];

export interface NodeChange {
  /** `+` added, `~` changed, `-` removed. */
  op: '+' | '~' | '-';
  /** `label zone=core`, `taint edgebox.dev/accelerator=nvidia:NoSchedule`. */
  what: string;
}

export interface NodeLabelPlan {
  /** The labels apply sends (server-side apply removes the edgebox-owned ones left out). */
  labels: Record<string, string>;
  /** The node's whole taint list after the change, or undefined when its taints stay as they are. */
  taints?: { current: Taint[]; next: Taint[] };
  changes: NodeChange[];
}

/** The node that plays a module: named after it, or labelled with its module name. */
export function nodeOfModule(nodes: readonly ObservedNode[], module: string): ObservedNode | undefined {
  return nodes.find((n) => n.metadata.name === module) ?? nodes.find((n) => n.metadata.labels?.[LABELS.module] === module);
}

/**
 * The label and taint changes that bring a node to the module's intent, or an empty `changes`
 * when it is already there (then apply leaves the node alone).
 */
export function planNode(node: ObservedNode, intent: ModuleIntent): NodeLabelPlan {
  const live = node.metadata.labels ?? {};
  const changes: NodeChange[] = [];
  for (const [k, v] of Object.entries(intent.labels)) {
    if (!(k in live)) changes.push({ op: '+', what: `label ${k}=${v}` });
    else if (live[k] !== v) changes.push({ op: '~', what: `label ${k}=${v} (was ${live[k]})` });
  }
  // Labels edgebox applied earlier that the spec dropped: applying without them removes them.
  for (const k of appliedLabelKeys(node)) {
    if (!(k in intent.labels) && k in live) changes.push({ op: '-', what: `label ${k}=${live[k]}` });
  }

  const current = node.spec?.taints ?? [];
  const next = [...current.filter((t) => !APPLY_TAINT_KEYS.includes(t.key)), ...intent.taints];
  const taintChanges: NodeChange[] = [
    ...next.filter((t) => !current.some((c) => sameTaint(c, t))).map((t) => ({ op: '+' as const, what: `taint ${formatTaint(t)}` })),
    ...current.filter((c) => !next.some((t) => sameTaint(c, t))).map((t) => ({ op: '-' as const, what: `taint ${formatTaint(t)}` })),
  ];
  return {
    labels: intent.labels,
    ...(taintChanges.length ? { taints: { current, next } } : {}),
    changes: [...changes, ...taintChanges],
  };
}

function sameTaint(a: Taint, b: Taint): boolean {
  return a.key === b.key && (a.value ?? '') === (b.value ?? '') && a.effect === b.effect;
}

function formatTaint(t: Taint): string {
  return `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
}

/** Label keys that edgebox's own server-side apply owns on the node, read from managedFields. */
function appliedLabelKeys(node: ObservedNode): string[] {
  const entries = (node.metadata.managedFields ?? []).filter((f) => f.manager === FIELD_MANAGER && f.operation === 'Apply' && !f.subresource);
  return entries.flatMap((f) => {
    const labels = ((f.fieldsV1 as Record<string, Record<string, unknown>> | undefined)?.['f:metadata']?.['f:labels'] ?? {}) as Record<string, unknown>;
    return Object.keys(labels)
      .filter((k) => k.startsWith('f:'))
      .map((k) => k.slice(2));
  });
}
