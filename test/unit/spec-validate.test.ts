import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EdgeboxError, type Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { parseSpec } from '../../src/spec/load.js';

const VALID = readFileSync(new URL('../../examples/article-box.yaml', import.meta.url), 'utf8');

function diagnosticsOf(text: string): Diagnostic[] {
  try {
    parseSpec(text, 'box.yaml');
  } catch (e) {
    if (e instanceof EdgeboxError) return e.diagnostics;
    throw e;
  }
  return [];
}

/** A minimal valid box with one line changed, so each case names only what it breaks. */
function box(overrides: { controlPlane?: string; modules?: string; peripherals?: string; workloads?: string; head?: string }): string {
  return [
    overrides.head ?? 'apiVersion: edgebox.dev/v1alpha1\nkind: EdgeBox\nmetadata: { name: t }',
    'spec:',
    `  controlPlane: ${overrides.controlPlane ?? '{ servers: 1 }'}`,
    '  modules:',
    overrides.modules ?? '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1 }',
    `  peripherals:\n${overrides.peripherals ?? '    []'}`,
    `  workloads:\n${overrides.workloads ?? '    []'}`,
    '',
  ].join('\n');
}

describe('spec validation', () => {
  it('accepts the examples and applies defaults', () => {
    const { box: spec, diagnostics } = parseSpec(VALID, 'article-box.yaml');
    expect(diagnostics).toEqual([]);
    expect(spec.spec.modules.find((m) => m.name === 'jetson-1')?.roles).toEqual(['server', 'agent']);
    expect(spec.spec.workloads.find((w) => w.name === 'detector-b')?.kind).toBe('deployment');
    expect(spec.spec.peripherals.find((p) => p.name === 'front-camera')?.exclusive).toBe(false);
  });

  it.each([
    [
      'unknown hardware, with a suggestion',
      box({ modules: '    - { name: a, hardware: jetson-nx, address: 10.0.0.1 }' }),
      'spec.unknown-hardware',
      7,
      28,
      "did you mean 'jetson-xavier-nx-8gb'?",
    ],
    ['misspelt field', box({ modules: '    - { name: a, hardwre: rpi-cm4-4gb, address: 10.0.0.1 }' }), 'spec.unknown-field', 7, 18, "did you mean 'hardware'?"],
    ['missing field', box({ modules: '    - { name: a, address: 10.0.0.1 }' }), 'spec.missing-field', 7, 7, "add 'hardware:' here"],
    [
      'even server count',
      box({
        controlPlane: '{ servers: 2 }',
        modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1 }\n    - { name: b, hardware: rpi-cm4-4gb, address: 10.0.0.2 }',
      }),
      'spec.even-servers',
      5,
      28,
      'use 1 or 3',
    ],
    [
      'more servers than eligible modules',
      box({ controlPlane: '{ servers: 3 }' }),
      'spec.too-few-server-modules',
      5,
      28,
      "lower servers to 1 or add 'server' to more modules' roles",
    ],
    [
      'address collision',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1 }\n    - { name: b, hardware: rpi-cm4-4gb, address: 10.0.0.1 }' }),
      'spec.address-collision',
      8,
      50,
      'every module and the API address need their own IP',
    ],
    [
      'IPv6 addresses collide in any spelling',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: "fd00::1" }\n    - { name: b, hardware: rpi-cm4-4gb, address: "fd00:0::1" }' }),
      'spec.address-collision',
      8,
      50,
      'every module and the API address need their own IP',
    ],
    [
      'API address collides with a module',
      box({ controlPlane: '{ servers: 1, apiAddress: 10.0.0.1 }' }),
      'spec.address-collision',
      7,
      50,
      'every module and the API address need their own IP',
    ],
    [
      'invalid address',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.300 }' }),
      'spec.schema',
      7,
      50,
      'see docs/spec.md for the field format',
    ],
    [
      'duplicate module',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1 }\n    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.2 }' }),
      'spec.duplicate-name',
      8,
      15,
      'give every module a unique name',
    ],
    [
      'peripheral attached to unknown module',
      box({ peripherals: '    - { name: bus, kind: can, attachedTo: [aa] }' }),
      'spec.unknown-module',
      9,
      44,
      "did you mean 'a'?",
    ],
    ['unknown peripheral kind', box({ peripherals: '    - { name: bus, kind: canbus, attachedTo: [a] }' }), 'spec.invalid-value', 9, 26, "did you mean 'can'?"],
    [
      'workload uses unknown peripheral',
      box({ workloads: '    - { name: w, image: x, peripherals: [cam] }' }),
      'spec.unknown-peripheral',
      11,
      42,
      'declare it under spec.peripherals',
    ],
    [
      'unknown capability',
      box({ workloads: '    - { name: w, image: x, requires: { capabilities: [gpu.cud] } }' }),
      'spec.unknown-capability',
      11,
      55,
      "did you mean 'gpu.cuda'?",
    ],
    [
      'capability no module has',
      box({ workloads: '    - { name: w, image: x, requires: { capabilities: [npu] } }' }),
      'spec.unsatisfiable-workload',
      11,
      38,
      'add the capability to a module that reaches the peripheral (spec.modules[].capabilities), or attach the peripheral to a capable module',
    ],
    [
      'singleton with two replicas',
      box({ workloads: '    - { name: w, image: x, replicas: 2, singleton: true }' }),
      'spec.singleton-replicas',
      11,
      38,
      'a singleton runs exactly one copy: set replicas: 1 or singleton: false',
    ],
    [
      'singleton daemonset',
      box({ workloads: '    - { name: w, image: x, kind: daemonset, singleton: true }' }),
      'spec.singleton-daemonset',
      11,
      56,
      'use kind: deployment or statefulset with replicas: 1',
    ],
    [
      'bad quantity',
      box({ workloads: '    - { name: w, image: x, requires: { memory: 2GB } }' }),
      'spec.schema',
      11,
      48,
      'see docs/spec.md for the field format',
    ],
    [
      'name not a DNS label',
      box({ modules: '    - { name: Master_1, hardware: rpi-cm4-4gb, address: 10.0.0.1 }' }),
      'spec.schema',
      7,
      15,
      'see docs/spec.md for the field format',
    ],
    [
      'wrong apiVersion',
      box({ head: 'apiVersion: edgebox.dev/v1\nkind: EdgeBox\nmetadata: { name: t }' }),
      'spec.invalid-value',
      1,
      13,
      "did you mean 'edgebox.dev/v1alpha1'?",
    ],
    ['YAML syntax error', 'spec: { modules: [\n', 'spec.yaml-syntax', 2, 1, 'fix the YAML syntax at this position (indentation, quotes, a missing ":")'],
    ['a scalar document', 'just text\n', 'spec.schema', 1, 1, 'a box spec is a YAML mapping that starts with apiVersion: edgebox.dev/v1alpha1'],
  ])('%s', (_name, text, code, line, col, hint) => {
    const ds = diagnosticsOf(text);
    const d = ds.find((x) => x.code === code);
    expect(d, `diagnostics were: ${JSON.stringify(ds)}`).toBeDefined();
    expect(d?.severity).toBe('error');
    expect(d?.location).toEqual({ file: 'box.yaml', line, col });
    expect(d?.hint).toBe(hint);
  });

  it('warns about a single server but accepts it', () => {
    const { diagnostics } = parseSpec(box({}), 'box.yaml');
    expect(diagnostics.map((d) => [d.severity, d.code])).toEqual([['warning', 'spec.single-server']]);
  });

  it('reports every problem of a file at once, in file order', () => {
    const text = readFileSync(new URL('../fixtures/invalid/many-errors.yaml', import.meta.url), 'utf8');
    const ds = diagnosticsOf(text);
    expect(ds.map((d) => `${d.location?.line}:${d.code}`)).toEqual([
      '6:spec.even-servers',
      '9:spec.unknown-hardware',
      '11:spec.duplicate-name',
      '13:spec.address-collision',
      '14:spec.unknown-field',
      '18:spec.unknown-module',
      '23:spec.invalid-value',
      '24:spec.unknown-capability',
      '25:spec.unknown-peripheral',
    ]);
  });

  it('refuses a YAML alias bomb with a located error instead of expanding it', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(', ')}]`,
      ),
    ].join('\n');
    const ds = diagnosticsOf(bomb);
    expect(ds[0]?.code).toBe('spec.yaml-aliases');
    expect(ds[0]?.location?.line).toBe(1);
  });
});
