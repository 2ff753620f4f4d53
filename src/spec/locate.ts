import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { SourceLocation } from '../diagnostics/diagnostic.js';

/**
 * Maps a field path back to where it is written. A path that does not exist (a missing field)
 * resolves to the closest existing parent, which is where the user has to add it.
 * With `key: true` the location is the key itself (for unknown fields).
 */
export function locate(doc: Document, lineCounter: LineCounter, file: string, path: readonly PropertyKey[], opts: { key?: boolean } = {}): SourceLocation {
  let node: Node | null | undefined = doc.contents as Node | null;
  let at: readonly [number, number, number] | undefined = node?.range ?? undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === segment);
      if (!pair) break;
      const key = pair.key as Node;
      at = key.range ?? at;
      node = pair.value as Node | null;
      if (node?.range && !(opts.key && segment === path[path.length - 1])) at = node.range;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) break;
      node = item;
      at = item.range ?? at;
    } else {
      break;
    }
  }
  const pos = lineCounter.linePos(at?.[0] ?? 0);
  return { file, line: pos.line, col: pos.col };
}

/** A spec's locator for checks made after loading (install's preflight): field path -> where it is written. */
export function specLocator(text: string, file: string): (path: readonly PropertyKey[]) => SourceLocation {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  return (path) => locate(doc, lineCounter, file, path);
}
