import { nodeLabels } from '../render/node-metadata.js';
import { capabilityLabel, DISCOVERED_PREFIX, LABELS, PUBLISHED_RESOURCES_ANNOTATION } from '../contract/labels.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import type { Discovery } from './discovery/types.js';

export const DISCOVERED_LABELS = {
  hardware: `${DISCOVERED_PREFIX}/hardware`,
  capability: (c: string) => `${DISCOVERED_PREFIX}/cap.${c}`,
} as const;

/** The parts of a live Node the planner reads. */
export interface ObservedNode {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  status?: { capacity?: Record<string, string>; allocatable?: Record<string, string> };
}

export interface JsonPatchOp {
  op: 'add' | 'remove';
  path: string;
  value?: unknown;
}

export interface NodeUpdate {
  /** Merge patch for metadata: a value sets a key, null removes it. Empty when converged. */
  labels: Record<string, string | null>;
  annotations: Record<string, string | null>;
  /** JSON patch for the node's status subresource. Empty when converged. */
  status: JsonPatchOp[];
  /** `+ label edgebox.dev/cap.can=true`, for the report. */
  changes: string[];
}

/** RFC 6901: `nvidia.com/gpu` → `nvidia.com~1gpu`. */
const pointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * What to change on a module's node so it shows what discovery found. Pure.
 * - `edgebox.dev/cap.<c>=true` for every discovered capability. Declared capability labels stay
 *   even when discovery misses them: the spec owns those, a finding reports the disagreement.
 *   Capability labels neither declared nor discovered (discovered earlier, gone now) go.
 * - `edgebox.dev/hardware`: the spec's; set from discovery only when the node has none, so
 *   that the agent and `edgebox apply` never take turns rewriting it on a mismatch.
 * - `discovered.edgebox.dev/*`: exactly what discovery found.
 * - extended resources for counted devices on status capacity and allocatable (allocatable too,
 *   since a local box has no kubelet to derive it; on a module the kubelet recomputes it).
 */
export function planNodeUpdate(node: ObservedNode, box: BoxSpec, m: ModuleSpec, d: Discovery): NodeUpdate {
  const live = node.metadata?.labels ?? {};
  const declared = nodeLabels(box, m);
  const want: Record<string, string> = {};
  for (const c of d.capabilities) {
    want[capabilityLabel(c)] = 'true';
    want[DISCOVERED_LABELS.capability(c)] = 'true';
  }
  want[DISCOVERED_LABELS.hardware] = d.hardware ?? 'unknown';
  if (!(LABELS.hardware in live) && d.hardware) want[LABELS.hardware] = d.hardware;

  const labels: Record<string, string | null> = {};
  const changes: string[] = [];
  for (const [k, v] of Object.entries(want)) {
    if (live[k] !== v) {
      labels[k] = v;
      changes.push(`${k in live ? '~' : '+'} label ${k}=${v}`);
    }
  }
  const capPrefix = capabilityLabel('');
  for (const k of Object.keys(live)) {
    const stale = k.startsWith(`${DISCOVERED_PREFIX}/`) ? !(k in want) : k.startsWith(capPrefix) && !(k in want) && !(k in declared);
    if (stale) {
      labels[k] = null;
      changes.push(`- label ${k}`);
    }
  }

  const annotation = node.metadata?.annotations?.[PUBLISHED_RESOURCES_ANNOTATION];
  const before = new Set(annotation ? annotation.split(',') : []);
  const resources = Object.entries(d.resources.extended).sort(([a], [b]) => a.localeCompare(b));
  const status: JsonPatchOp[] = [];
  const capacity = node.status?.capacity;
  const allocatable = node.status?.allocatable;
  if (resources.length && !capacity) status.push({ op: 'add', path: '/status/capacity', value: {} });
  if (resources.length && !allocatable) status.push({ op: 'add', path: '/status/allocatable', value: {} });
  for (const [r, n] of resources) {
    if (capacity?.[r] !== String(n) || allocatable?.[r] !== String(n)) {
      status.push({ op: 'add', path: `/status/capacity/${pointer(r)}`, value: String(n) });
      status.push({ op: 'add', path: `/status/allocatable/${pointer(r)}`, value: String(n) });
      changes.push(`${capacity?.[r] === undefined ? '+' : '~'} resource ${r}=${n}`);
    }
  }
  for (const r of [...before].sort()) {
    if (r in d.resources.extended) continue;
    if (capacity && r in capacity) status.push({ op: 'remove', path: `/status/capacity/${pointer(r)}` });
    if (allocatable && r in allocatable) status.push({ op: 'remove', path: `/status/allocatable/${pointer(r)}` });
    if ((capacity && r in capacity) || (allocatable && r in allocatable)) changes.push(`- resource ${r}`);
  }
  const published = resources.map(([r]) => r).join(',');
  const annotations: Record<string, string | null> = {};
  if ((annotation ?? '') !== published) annotations[PUBLISHED_RESOURCES_ANNOTATION] = published || null;

  return { labels, annotations, status, changes };
}
