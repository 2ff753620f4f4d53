import { Document, Pair, parse, visit, YAMLMap, YAMLSeq, type Scalar } from 'yaml';

/** A value with the reason for it, written as a comment above it. */
export interface Commented<T> {
  value: T;
  comment?: string;
}

/** A top-level key of a config file; lists get one line per item, each with its own comment. */
export type ConfigEntry = Commented<string | number | boolean | Commented<string>[]> & { key: string };

const COMMENT_WIDTH = 96;
// Never fold long strings: a folded image name or argument is harder to read and to grep.
const STRINGIFY = { lineWidth: 0 } as const;

/**
 * Comment text as the `yaml` package wants it: one string, a leading space on each line (it
 * prefixes lines with a bare `#`), wrapped so reasons stay readable in a terminal.
 */
export function commentText(text: string): string {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > COMMENT_WIDTH) {
        lines.push(line);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    lines.push(line);
  }
  return lines.map((l) => ` ${l}`).join('\n');
}

/**
 * Quotes every string that a YAML 1.1 reader would take for something else. This package writes
 * YAML 1.2, where `yes`, `on` or `y` are plain strings; K3s and kubectl read YAML 1.1
 * (go-yaml v2), where they are booleans, and a label value `on` would arrive as `true`.
 */
function quoteAmbiguous(doc: Document): void {
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') return;
      // A block literal is a string to every reader (the box spec in the controller's environment).
      if (node.value.includes('\n')) {
        node.type = 'BLOCK_LITERAL';
        return;
      }
      let read: unknown;
      try {
        // A probe: a value that reads as a tag (`!variables.own || ...`, CEL) is quoted, not warned about.
        read = parse(node.value, { version: '1.1', logLevel: 'error' });
      } catch {
        read = undefined;
      }
      if (read !== node.value) node.type = 'QUOTE_DOUBLE';
    },
  });
}

/** A YAML file of `entries` in order, each with its reason above it, under a header comment. */
export function commentedYaml(header: string, entries: readonly ConfigEntry[]): string {
  const doc = new Document();
  const map = new YAMLMap();
  for (const entry of entries) {
    const key = doc.createNode(entry.key) as Scalar;
    if (entry.comment) key.commentBefore = commentText(entry.comment);
    map.items.push(new Pair(key, Array.isArray(entry.value) ? commentedSeq(doc, entry.value) : doc.createNode(entry.value)));
  }
  doc.contents = map;
  doc.commentBefore = commentText(header);
  quoteAmbiguous(doc);
  return doc.toString(STRINGIFY);
}

function commentedSeq(doc: Document, items: readonly Commented<string>[]): YAMLSeq {
  const seq = new YAMLSeq();
  for (const item of items) {
    const node = doc.createNode(item.value) as Scalar;
    if (item.comment) node.commentBefore = commentText(item.comment);
    seq.items.push(node);
  }
  return seq;
}

/** A multi-document YAML stream (`---` between documents), as `kubectl apply -f` reads it. */
export function yamlStream(header: string, values: readonly unknown[]): string {
  return values
    .map((value, i) => {
      const doc = new Document(value);
      if (i === 0) doc.commentBefore = commentText(header);
      quoteAmbiguous(doc);
      return doc.toString(STRINGIFY);
    })
    .join('---\n');
}
