import { open } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { EdgeboxError, formatPath, hasErrors, type Diagnostic } from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { crossCheck, type SpecIssue } from './cross-check.js';
import { countProblems, fileTooLarge, scalarProblems, SPEC_LIMITS, textProblems } from './limits.js';
import { locate } from './locate.js';
import { boxSchema, controlPlaneSchema, k3sSchema, moduleSchema, peripheralSchema, workloadSchema, type BoxSpec } from './schema.js';
import { DEFAULT_K3S_VERSION } from './k3s-version.js';

export interface LoadedSpec {
  box: BoxSpec;
  file: string;
  /** Warnings and infos; errors never reach here (they throw). */
  diagnostics: Diagnostic[];
}

// A YAML alias bomb expands exponentially; no honest box spec needs more aliases than this.
const MAX_ALIAS_COUNT = 100;

/**
 * Parses and validates a box spec from text. Reports every problem at once, each located at
 * file:line:col. Throws an EdgeboxError of kind 'input' when any is an error.
 */
export function parseSpec(text: string, file: string): LoadedSpec {
  const oversized = textProblems(text, file);
  if (oversized.length) throw new EdgeboxError('input', oversized);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (path: readonly PropertyKey[], key = false) => locate(doc, lineCounter, file, path, { key });

  const syntax: Diagnostic[] = doc.errors.map((e) => {
    const pos = lineCounter.linePos(e.pos[0]);
    return {
      code: 'spec.yaml-syntax',
      severity: 'error',
      message: `YAML: ${e.message.split('\n')[0]}`,
      hint: 'fix the YAML syntax at this position (indentation, quotes, a missing ":")',
      location: { file, line: pos.line, col: pos.col },
    };
  });
  if (syntax.length) throw new EdgeboxError('input', syntax);
  const longScalars = scalarProblems(doc, lineCounter, file);
  if (longScalars.length) throw new EdgeboxError('input', longScalars);

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    throw new EdgeboxError('input', [
      {
        code: 'spec.yaml-aliases',
        severity: 'error',
        message: `YAML: ${(e as Error).message}`,
        hint: 'expand the aliases by hand; a box spec needs few of them',
        location: at([]),
      },
    ]);
  }

  const tooMany = countProblems(data, at);
  if (tooMany.length) throw new EdgeboxError('input', tooMany);

  const parsed = boxSchema.safeParse(data, { reportInput: true });
  const schemaProblems = parsed.success ? [] : parsed.error.issues.flatMap((issue) => schemaDiagnostics(issue, at));
  // Report every problem at once: when the schema fails, the cross-checks still run over the
  // parts that are valid on their own.
  const issues = parsed.success ? crossCheck(parsed.data) : salvagedCrossCheck(data);
  const diagnostics: Diagnostic[] = [
    ...schemaProblems,
    ...issues.map((i) => ({
      code: i.code,
      severity: i.severity,
      message: i.message,
      ...(i.hint ? { hint: i.hint } : {}),
      path: formatPath(i.path),
      location: at(i.path),
    })),
  ];
  if (!parsed.success || hasErrors(diagnostics)) throw new EdgeboxError('input', sortByLocation(diagnostics));
  return { box: parsed.data, file, diagnostics };
}

const LISTS = ['modules', 'peripherals', 'workloads'] as const;

/**
 * Cross-checks over the list items that pass the schema on their own. Item indices are mapped
 * back to the file's; checks a dropped item could have changed (a name it defines, the server
 * count it contributes to) are left out rather than reported wrongly.
 */
/**
 * Parses an item; if it fails, once more without the fields that failed, so that a typo in one
 * field (falling back to its default) does not hide the item from the cross-checks.
 */
function parseWithout<T extends z.ZodType>(schema: T, item: unknown): z.ZodSafeParseResult<z.output<T>> {
  const first = schema.safeParse(item);
  if (first.success || typeof item !== 'object' || item === null) return first;
  const copy: Record<string, unknown> = { ...(item as Record<string, unknown>) };
  for (const issue of first.error.issues) {
    const keys = issue.code === 'unrecognized_keys' && issue.path.length === 0 ? issue.keys : [issue.path[0]];
    for (const key of keys) if (typeof key === 'string') delete copy[key];
  }
  return schema.safeParse(copy);
}

function salvagedCrossCheck(data: unknown): SpecIssue[] {
  const spec = (data as { spec?: unknown } | null)?.spec;
  if (typeof spec !== 'object' || spec === null) return [];
  const raw = spec as Record<string, unknown>;
  const itemSchemas = { modules: moduleSchema, peripherals: peripheralSchema, workloads: workloadSchema };
  const indexMap: Record<string, number[]> = {};
  const droppedNames = new Set<string>();
  let droppedModule = false;
  const partial: Record<string, unknown[]> = {};
  for (const list of LISTS) {
    const items = Array.isArray(raw[list]) ? (raw[list] as unknown[]) : [];
    partial[list] = [];
    indexMap[list] = [];
    items.forEach((item, i) => {
      const r = parseWithout(itemSchemas[list], item);
      if (r.success) {
        partial[list]!.push(r.data);
        indexMap[list]!.push(i);
      } else {
        const name = (item as { name?: unknown } | null)?.name;
        if (typeof name === 'string') droppedNames.add(name);
        if (list === 'modules') droppedModule = true;
      }
    });
  }
  const controlPlane = controlPlaneSchema.safeParse(raw.controlPlane ?? {});
  // A malformed version is the schema's to report; the cross-checks then see the default.
  const k3s = k3sSchema.safeParse(raw.k3s ?? {});
  const box = {
    spec: {
      ...partial,
      controlPlane: controlPlane.success ? controlPlane.data : { servers: 3 },
      k3s: k3s.success ? k3s.data : { version: DEFAULT_K3S_VERSION },
    },
  } as unknown as BoxSpec;
  return crossCheck(box)
    .filter((i) => !(i.ref && droppedNames.has(i.ref)))
    .filter((i) => !(i.code === 'spec.unsatisfiable-workload' && droppedModule))
    .filter((i) => !(i.path[1] === 'controlPlane' && (!controlPlane.success || (droppedModule && i.code === 'spec.too-few-server-modules'))))
    .map((i) => {
      const list = i.path[1] as string;
      const index = i.path[2];
      return typeof index === 'number' && indexMap[list] ? { ...i, path: ['spec', list, indexMap[list]![index]!, ...i.path.slice(3)] } : i;
    });
}

export async function loadSpec(file: string): Promise<LoadedSpec> {
  let text: string;
  try {
    text = await readBounded(file);
  } catch (e) {
    if (e instanceof EdgeboxError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new EdgeboxError('input', [
      {
        code: 'input.unreadable',
        severity: 'error',
        message: code === 'ENOENT' ? `spec file ${file} does not exist` : `cannot read spec file ${file}: ${(e as Error).message}`,
        hint: 'pass the path of a box spec, e.g. examples/article-box.yaml',
      },
    ]);
  }
  return parseSpec(text, file);
}

/**
 * The file's text, read no further than one byte past `limit`: a spec named by mistake (a disk
 * image, /dev/zero) is refused without being read into memory.
 */
async function readBounded(file: string, limit = SPEC_LIMITS.fileBytes): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = (await handle.read(buffer, length, buffer.length - length)).bytesRead;
    if (length > limit) throw new EdgeboxError('input', [fileTooLarge(file)]);
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

type Locator = (path: readonly PropertyKey[], key?: boolean) => Diagnostic['location'];

function schemaDiagnostics(issue: z.core.$ZodIssue, at: Locator): Diagnostic[] {
  const path = issue.path;
  const field = formatPath(path) || '(document)';
  const base = { code: 'spec.schema', severity: 'error' as const };
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({
        ...base,
        code: 'spec.unknown-field',
        message: `unknown field '${key}'${path.length ? ` in ${field}` : ''}`,
        hint: didYouMean(key, knownKeys(issue.path)) ?? `allowed fields: ${knownKeys(issue.path).join(', ')}`,
        path: formatPath([...path, key]),
        location: at([...path, key], true),
      }));
    case 'invalid_type':
      if (issue.input === undefined) {
        const name = String(path[path.length - 1] ?? 'value');
        return [{ ...base, code: 'spec.missing-field', message: `${field} is required`, hint: `add '${name}:' here`, path: field, location: at(path) }];
      }
      return [
        {
          ...base,
          message: `${field}: expected ${issue.expected}, got ${describe(issue.input)}`,
          hint:
            path.length === 0
              ? 'a box spec is a YAML mapping that starts with apiVersion: edgebox.dev/v1alpha1'
              : `write ${field} as ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`,
          path: field,
          location: at(path),
        },
      ];
    case 'invalid_value': {
      const allowed = issue.values.map(String);
      const got = String(issue.input);
      return [
        {
          ...base,
          code: 'spec.invalid-value',
          message: `${field}: '${got}' is not allowed`,
          hint: didYouMean(got, allowed) ?? `use ${allowed.length === 1 ? `'${allowed[0]}'` : `one of: ${allowed.join(', ')}`}`,
          path: field,
          location: at(path),
        },
      ];
    }
    case 'custom': {
      const { code, hint, onKey } = (issue.params ?? {}) as { code?: string; hint?: string; onKey?: boolean };
      return [
        { ...base, code: code ?? base.code, message: `${field}: ${issue.message}`, hint: hint ?? hintFor(issue), path: field, location: at(path, onKey) },
      ];
    }
    default:
      return [{ ...base, message: `${field}: ${issue.message}`, hint: hintFor(issue), path: field, location: at(path) }];
  }
}

function hintFor(issue: z.core.$ZodIssue): string {
  if (issue.code === 'too_small' && issue.origin === 'array') return 'add at least one entry';
  if (issue.code === 'too_small') return `use a value of at least ${String(issue.minimum)}`;
  return 'see docs/spec.md for the field format';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Field names the schema allows at a path, for "did you mean" on unknown fields. */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType | undefined = boxSchema;
  for (const segment of path) {
    schema = unwrap(schema);
    const def: z.core.$ZodTypeDef | undefined = schema?._zod.def;
    if (def?.type === 'object') schema = (def as z.core.$ZodObjectDef).shape[String(segment)];
    else if (def?.type === 'array') schema = (def as z.core.$ZodArrayDef).element;
    else return [];
  }
  const def = unwrap(schema)?._zod.def;
  return def?.type === 'object' ? Object.keys((def as z.core.$ZodObjectDef).shape) : [];
}

function unwrap(schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  let s = schema;
  while (s && (s._zod.def.type === 'default' || s._zod.def.type === 'optional')) {
    s = (s._zod.def as z.core.$ZodDefaultDef).innerType;
  }
  return s;
}

function sortByLocation(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.col ?? 0) - (b.location?.col ?? 0));
}
