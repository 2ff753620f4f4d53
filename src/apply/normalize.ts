import type { KubeObject } from '../render/manifests.js';

/**
 * Metadata the API server writes on every change. Two versions of an object that differ only
 * here say the same thing, so apply compares (and diffs) objects without them.
 */
const SERVER_METADATA = ['managedFields', 'resourceVersion', 'generation', 'creationTimestamp', 'uid', 'selfLink'] as const;

/**
 * An object as apply compares it: plain JSON (the client returns class instances with Dates),
 * without server-written metadata, and without `status`, which apply never sets and controllers
 * change all the time.
 */
export function comparable(o: KubeObject): KubeObject {
  const plain = JSON.parse(JSON.stringify(o)) as KubeObject & { status?: unknown };
  delete plain.status;
  const meta = plain.metadata as Record<string, unknown>;
  for (const key of SERVER_METADATA) delete meta[key];
  return plain;
}

/** Whether two objects carry the same content, ignoring server-written fields and key order. */
export function sameContent(a: KubeObject, b: KubeObject): boolean {
  return canonical(comparable(a)) === canonical(comparable(b));
}

/** JSON with object keys sorted, so that key order never counts as a difference. */
function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
