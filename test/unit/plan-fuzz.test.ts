import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { planBox } from '../../src/plan/plan-box.js';
import { parseSpec } from '../../src/spec/load.js';

const EXAMPLES = ['article-box', 'jetson-mate', 'turing-pi-2'].map((n) => readFileSync(new URL(`../../examples/${n}.yaml`, import.meta.url), 'utf8'));

/** Text either becomes a plan or a located input error: never a crash, never an unlocated error. */
function checkText(text: string): 'plan' | 'error' {
  let box;
  try {
    box = parseSpec(text, 'fuzz.yaml').box;
  } catch (e) {
    expect(e).toBeInstanceOf(EdgeboxError);
    const err = e as EdgeboxError;
    expect(err.kind).toBe('input');
    expect(err.diagnostics.length).toBeGreaterThan(0);
    for (const d of err.diagnostics) {
      expect(d.location, `${d.code}: ${d.message}`).toMatchObject({ file: 'fuzz.yaml' });
      expect(d.location!.line).toBeGreaterThanOrEqual(1);
      expect(d.location!.col).toBeGreaterThanOrEqual(1);
    }
    return 'error';
  }
  const plan = planBox(box);
  expect(Array.isArray(plan.findings)).toBe(true);
  return 'plan';
}

// Values that are valid somewhere in a spec, so mutations reach deep checks, not only the schema.
const TOKENS = [
  '0',
  '1',
  '2',
  '3',
  '-1',
  '1.5',
  'true',
  'null',
  '[]',
  '{}',
  '""',
  "'x'",
  'server',
  'agent',
  'can',
  'gpu.cuda',
  'npu',
  'jetson-nano-4gb',
  'rpi-cm4-2gb',
  'master-1',
  'jetson-1',
  'motor-bus',
  'front-camera',
  'daemonset',
  'critical',
  '40Gi',
  '999',
  '10.0.0.1',
  // Bad input issue 15 found: an IPv6 zone id, an IPv4-mapped twin of an address, label keys
  // edgebox or the kubelet reserve, a slot no board has, a deep nesting on one line.
  'fe80::1%eth0',
  '::ffff:192.168.8.11',
  '{ edgebox.dev/cap.gpu: "true" }',
  '{ kubernetes.io/role: x }',
  '{ driver: turingpi-bmc, slot: 9 }',
  '{ driver: turingpi-bmc, slot: 1, endpoint: "ftp://x" }',
  '- '.repeat(2000) + 'x',
  '['.repeat(2000),
  '&a',
  '*a',
  ':',
  '- x',
  '#',
];

const mutation = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('replace-value' as const), at: fc.nat(), token: fc.constantFrom(...TOKENS) }),
  fc.record({ op: fc.constant('insert-text' as const), at: fc.nat(), text: fc.string({ maxLength: 6 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(text: string, ms: Mutation[]): string {
  let lines = text.split('\n');
  for (const m of ms) {
    const i = m.at % Math.max(1, lines.length);
    const line = lines[i] ?? '';
    if (m.op === 'delete') lines.splice(i, 1);
    else if (m.op === 'duplicate') lines.splice(i, 0, line);
    else if (m.op === 'truncate') lines = lines.slice(0, i);
    else if (m.op === 'replace-value') lines[i] = line.includes(':') ? `${line.slice(0, line.indexOf(':') + 1)} ${m.token}` : `${line} ${m.token}`;
    else lines[i] = line.slice(0, m.at % (line.length + 1)) + m.text + line.slice(m.at % (line.length + 1));
  }
  return lines.join('\n');
}

describe('fuzz: any text gives a plan or a located error', () => {
  it('random mutations of the examples', () => {
    const outcomes = { plan: 0, error: 0 };
    fc.assert(
      fc.property(fc.constantFrom(...EXAMPLES), fc.array(mutation, { minLength: 1, maxLength: 4 }), (text, ms) => {
        outcomes[checkText(mutate(text, ms))]++;
      }),
      { numRuns: 400 },
    );
    // The mutations must exercise both outcomes, or the test would prove nothing.
    expect(outcomes.plan).toBeGreaterThan(0);
    expect(outcomes.error).toBeGreaterThan(0);
  }, 60_000); // 400 plans take about 5 s on an idle core; CI's cores are shared

  it('nesting of any depth and kind, anywhere in an example', () => {
    const opener = fc.constantFrom('- ', '[', '{a: ', '? ', '- [');
    fc.assert(
      fc.property(fc.constantFrom(...EXAMPLES), fc.nat(), opener, fc.integer({ min: 1, max: 3000 }), (text, at, open, depth) => {
        const lines = text.split('\n');
        const i = at % lines.length;
        lines[i] = `${lines[i]!}${open.repeat(depth)}`;
        checkText(lines.join('\n'));
      }),
      { numRuns: 60 },
    );
  }, 60_000);

  it('random YAML documents', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        // stringify(undefined) is undefined, not text: an empty file stands for it.
        checkText(stringify(value) ?? '');
      }),
      { numRuns: 200 },
    );
  });

  it('random text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        checkText(text);
      }),
      { numRuns: 300 },
    );
  });
});
