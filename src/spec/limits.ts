import { isPair, isScalar, isSeq, Lexer, LineCounter, Parser, visit, type Document } from 'yaml';
import { formatPath, type Diagnostic, type SourceLocation } from '../diagnostics/diagnostic.js';

/**
 * How large a box spec may be. A real box has a handful of modules and a few dozen workloads;
 * these bounds are far above that and far below what would make validation slow or let a
 * mistaken (or hostile) file exhaust memory or the stack. docs/spec.md lists them.
 */
export const SPEC_LIMITS = {
  /** Bytes of the spec file. */
  fileBytes: 1024 * 1024,
  /** Nesting of YAML collections; a box spec needs about 6. */
  depth: 32,
  /** Characters of one scalar (a key or a value). */
  scalarChars: 64 * 1024,
  modules: 64,
  workloads: 1000,
  peripherals: 256,
} as const;

const LISTS = ['modules', 'peripherals', 'workloads'] as const;

/**
 * The bounds checked on the text, before the YAML is composed: its size and its nesting. The
 * composer and every later walk recurse once per level, so a 10,000-deep sequence would overflow
 * the stack; yaml's CST parser keeps its levels in an array, so the depth is measured on it,
 * stopping at the first level too deep.
 */
export function textProblems(text: string, file: string): Diagnostic[] {
  if (Buffer.byteLength(text, 'utf8') > SPEC_LIMITS.fileBytes) return [fileTooLarge(file)];
  const lines = new LineCounter();
  lines.addNewLine(0); // as Parser.parse does: the first line starts at 0
  const parser = new Parser(lines.addNewLine);
  for (const lexeme of new Lexer().lex(text)) {
    for (const _token of parser.next(lexeme));
    if (parser.stack.length > SPEC_LIMITS.depth) {
      const { line, col } = lines.linePos(parser.offset);
      return [
        problem(
          'spec.too-deep',
          `YAML nested more than ${SPEC_LIMITS.depth} levels deep`,
          { file, line, col },
          'a box spec nests about 6 levels: look for a "-" or "[" that starts a new level on every line',
        ),
      ];
    }
  }
  return [];
}

export function fileTooLarge(file: string): Diagnostic {
  return problem(
    'spec.too-large',
    `${file} is larger than ${SPEC_LIMITS.fileBytes / 1024 / 1024} MiB, the most a box spec may be`,
    { file, line: 1, col: 1 },
    'a box spec is a few KiB: check that this is the spec file (the limits are in docs/spec.md)',
  );
}

/** Scalars (keys and values) longer than the limit, each where it starts. */
export function scalarProblems(doc: Document, lines: LineCounter, file: string): Diagnostic[] {
  const found: Diagnostic[] = [];
  visit(doc, {
    Scalar(_key, node, ancestors) {
      const length = String(node.value).length;
      if (length <= SPEC_LIMITS.scalarChars) return;
      const { line, col } = lines.linePos(node.range?.[0] ?? 0);
      found.push({
        ...problem(
          'spec.too-large',
          `a value of ${length} characters; a box spec allows at most ${SPEC_LIMITS.scalarChars} in one`,
          { file, line, col },
          'no field of a box spec takes a value this long: look for a pasted file or a quote that is never closed',
        ),
        path: fieldOf([...ancestors, node]),
      });
    },
  });
  return found;
}

/** `spec.workloads[0].image` from the nodes that lead to a scalar. */
function fieldOf(chain: readonly unknown[]): string {
  const parts = chain.flatMap((n, i): (string | number)[] => {
    if (isPair(n) && isScalar(n.key)) return [String(n.key.value)];
    if (isSeq(n)) return [n.items.indexOf(chain[i + 1] as never)];
    return [];
  });
  return formatPath(parts) || '(document)';
}

/** Lists longer than the limits, located at the list's key (before the schema parses thousands of items). */
export function countProblems(data: unknown, at: (path: readonly PropertyKey[], key?: boolean) => SourceLocation): Diagnostic[] {
  const spec = (data as { spec?: unknown } | null)?.spec as Record<string, unknown> | null | undefined;
  return LISTS.flatMap((list) => {
    const items = typeof spec === 'object' && spec !== null ? spec[list] : undefined;
    if (!Array.isArray(items) || items.length <= SPEC_LIMITS[list]) return [];
    return [
      {
        ...problem(
          'spec.too-many',
          `spec.${list} has ${items.length} entries; a box spec allows at most ${SPEC_LIMITS[list]}`,
          at(['spec', list], true),
          'split the box into several boxes (the limits are in docs/spec.md)',
        ),
        path: `spec.${list}`,
      },
    ];
  });
}

function problem(code: string, message: string, location: SourceLocation, hint: string): Diagnostic {
  return { code, severity: 'error', message, hint, location };
}
