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
      'write an IPv4 or IPv6 address, e.g. 192.168.8.11 or fd00::11',
    ],
    [
      'an IPv6 zone id',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: "fe80::1%eth0" }' }),
      'spec.address-zone',
      7,
      50,
      'give the module an address every module reaches without a zone: a global or ULA (fd00::/8) address, or IPv4',
    ],
    [
      'an IPv4-mapped IPv6 address is the IPv4 address',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1 }\n    - { name: b, hardware: rpi-cm4-4gb, address: "::ffff:10.0.0.1" }' }),
      'spec.address-collision',
      8,
      50,
      'every module and the API address need their own IP',
    ],
    [
      'a label key that is not a qualified name',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1, labels: { "-rack": a } }' }),
      'spec.label-key',
      7,
      70,
      'use at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
    ],
    [
      "a label under edgebox's own prefix",
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1, labels: { edgebox.dev/cap.gpu: "true" } }' }),
      'spec.reserved-label',
      7,
      70,
      'edgebox derives its edgebox.dev/ labels (module, hardware, cap.*, peripheral.*, role.*) from the spec; use a prefix of your own, e.g. example.com/cap.gpu',
    ],
    [
      'a kubernetes.io label a kubelet may not set',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1, labels: { node-role.kubernetes.io/edge: "" } }' }),
      'spec.reserved-label',
      7,
      70,
      'the kubelet refuses to start with it; use node.kubernetes.io/<name> or a prefix of your own',
    ],
    [
      'a power endpoint that is not an http URL',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1, power: { driver: turingpi-bmc, slot: 1, endpoint: "ftp://bmc" } }' }),
      'spec.power-endpoint',
      7,
      110,
      'write the base URL of the board controller, e.g. https://turingpi.local or http://192.168.8.2',
    ],
    [
      'a power endpoint with credentials',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1, power: { driver: turingpi-bmc, slot: 1, endpoint: "https://root:x@bmc" } }' }),
      'spec.power-endpoint',
      7,
      110,
      'remove them: the BMC login comes from EDGEBOX_BMC_USERNAME and EDGEBOX_BMC_PASSWORD',
    ],
    [
      'a slot the board does not have',
      box({ modules: '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1, power: { driver: turingpi-bmc, slot: 5 } }' }),
      'spec.power-slot',
      7,
      97,
      'use a slot from 1 to 4',
    ],
    [
      'a module that does not fit the board',
      box({ modules: '    - { name: a, hardware: generic-x86-64, address: 10.0.0.1, power: { driver: turingpi-bmc, slot: 1 } }' }),
      'spec.power-board-hardware',
      7,
      80,
      'a Turing Pi 2 takes Turing RK1, NVIDIA Jetson, and Raspberry Pi CM4/CM5 on an adapter; give this module another power driver or none',
    ],
    [
      'two modules in one slot',
      box({
        modules:
          '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1, power: { driver: turingpi-bmc, slot: 2 } }\n    - { name: b, hardware: rpi-cm4-4gb, address: 10.0.0.2, power: { driver: turingpi-bmc, slot: 2, endpoint: "https://turingpi.local/" } }',
      }),
      'spec.power-slot-collision',
      8,
      97,
      "give each module the slot it sits in; modules on another board need that board's endpoint",
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
