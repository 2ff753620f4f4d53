import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EdgeboxError, type Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { SPEC_LIMITS } from '../../src/spec/limits.js';
import { loadSpec, parseSpec } from '../../src/spec/load.js';

function diagnosticsOf(text: string): Diagnostic[] {
  try {
    parseSpec(text, 'box.yaml');
  } catch (e) {
    if (e instanceof EdgeboxError && e.kind === 'input') return e.diagnostics;
    throw e;
  }
  return [];
}

const modules = (n: number) =>
  Array.from({ length: n }, (_, i) => `    - { name: m${i}, hardware: rpi-cm4-4gb, address: 10.0.${i >> 8}.${(i & 255) + 1} }`).join('\n');

function box(o: { modules?: number; peripherals?: number; workloads?: number; label?: string }): string {
  const list = (n: number, item: (i: number) => string) => (n === 0 ? '    []' : Array.from({ length: n }, (_, i) => item(i)).join('\n'));
  return [
    'apiVersion: edgebox.dev/v1alpha1',
    'kind: EdgeBox',
    'metadata: { name: t }',
    'spec:',
    '  controlPlane: { servers: 1 }',
    '  modules:',
    modules(o.modules ?? 1),
    '  peripherals:',
    list(o.peripherals ?? 0, (i) => `    - { name: p${i}, kind: gpio, attachedTo: [m0] }`),
    '  workloads:',
    list(o.workloads ?? 0, (i) => `    - { name: w${i}, image: x }`),
    o.label === undefined ? '' : `  failover: { port: 7946 } # ${o.label}`,
    '',
  ].join('\n');
}

const only = (ds: Diagnostic[]) => ds.map((d) => ({ code: d.code, line: d.location?.line }));

describe('spec size limits', () => {
  it('accepts a box at every count limit', () => {
    const text = box({ modules: SPEC_LIMITS.modules, peripherals: SPEC_LIMITS.peripherals, workloads: SPEC_LIMITS.workloads });
    expect(diagnosticsOf(text).filter((d) => d.severity === 'error')).toEqual([]);
  });

  it.each([
    ['modules', { modules: SPEC_LIMITS.modules + 1 }, 6],
    ['peripherals', { peripherals: SPEC_LIMITS.peripherals + 1 }, 8],
    ['workloads', { workloads: SPEC_LIMITS.workloads + 1 }, 10],
  ])('refuses one entry too many in spec.%s, at the list, and nothing else', (list, counts, line) => {
    const ds = diagnosticsOf(box(counts));
    expect(only(ds)).toEqual([{ code: 'spec.too-many', line }]);
    expect(ds[0]!.path).toBe(`spec.${list}`);
    expect(ds[0]!.hint).toMatch(/docs\/spec\.md/);
  });

  it('refuses a scalar longer than the limit where it starts', () => {
    const long = `"${'x'.repeat(SPEC_LIMITS.scalarChars + 1)}"`;
    const text = box({}).replace('    - { name: w0', '').replace('  workloads:\n    []', `  workloads:\n    - { name: w, image: ${long} }`);
    const ds = diagnosticsOf(text);
    expect(only(ds)).toEqual([{ code: 'spec.too-large', line: 11 }]);
    expect(ds[0]!.path).toBe('spec.workloads[0].image');
    const fits = text.replace(long, `"${'x'.repeat(SPEC_LIMITS.scalarChars)}"`);
    expect(diagnosticsOf(fits).filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('refuses text over the file limit at line 1', () => {
    const text = box({}) + `# ${'x'.repeat(SPEC_LIMITS.fileBytes)}\n`;
    expect(only(diagnosticsOf(text))).toEqual([{ code: 'spec.too-large', line: 1 }]);
  });

  it('reads no more of a file than the limit allows', async () => {
    const err = await loadSpec('/dev/zero').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeboxError);
    expect((err as EdgeboxError).diagnostics.map((d) => [d.code, d.location])).toEqual([['spec.too-large', { file: '/dev/zero', line: 1, col: 1 }]]);
  });

  it('loads a file within the limit', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'edgebox-spec-')), 'box.yaml');
    writeFileSync(file, box({}));
    expect((await loadSpec(file)).box.spec.modules).toHaveLength(1);
  });
});

describe('YAML nesting', () => {
  it.each([
    // The form in issue 15 (one more space per line) is 50 MB at 10,000 levels: the size limit
    // answers it first. 1,000 levels fit in the size limit and overflowed the stack before.
    ['an indented block sequence 1,000 deep', Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}-`).join('\n'), 32],
    ['a compact block sequence 10,000 deep', `${'- '.repeat(10_000)}x\n`, 1],
    ['a flow sequence 100,000 deep', `${'['.repeat(100_000)}\n`, 1],
    ['a mapping 1,000 deep', Array.from({ length: 1000 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n'), 32],
    ['a deep value inside a valid spec', `${box({}).trimEnd()}\n  extra: ${'['.repeat(50)}\n`, 12],
  ])('%s is a located error, not a crash', (_name, text, line) => {
    expect(only(diagnosticsOf(text))).toEqual([{ code: 'spec.too-deep', line }]);
  });

  it('the issue 15 spec (10,000 levels, one more space per line) is refused by size', () => {
    const text = Array.from({ length: 10_000 }, (_, i) => `${' '.repeat(i)}-`).join('\n');
    expect(only(diagnosticsOf(text))).toEqual([{ code: 'spec.too-large', line: 1 }]);
  });
});
