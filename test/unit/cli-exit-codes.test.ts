import { describe, expect, it } from 'vitest';
import { edgebox } from './run-cli.js';

describe('edgebox CLI exit codes', () => {
  it.each([
    ['a valid spec', 0, ['validate', 'examples/article-box.yaml']],
    ['an invalid spec', 2, ['validate', 'test/fixtures/invalid/many-errors.yaml']],
    ['broken YAML', 2, ['validate', 'test/fixtures/invalid/bad-yaml.yaml']],
    ['a requirement nothing satisfies', 2, ['validate', 'test/fixtures/invalid/unsatisfiable.yaml']],
    ['a missing file', 2, ['validate', 'no/such/box.yaml']],
    ['an unknown command', 2, ['valdate', 'examples/article-box.yaml']],
    ['an unknown output format', 2, ['validate', 'examples/article-box.yaml', '-o', 'xml']],
    ['help', 0, ['--help']],
  ])('%s exits %i', (_name, code, args) => {
    expect(edgebox(...args).code).toBe(code);
  });

  it('prints located errors with hints and never a stack trace', () => {
    const r = edgebox('validate', 'test/fixtures/invalid/many-errors.yaml');
    expect(r.stderr).toContain("test/fixtures/invalid/many-errors.yaml:9:17: error spec.unknown-hardware: unknown hardware 'jetson-nx'");
    expect(r.stderr).toContain("hint: did you mean 'jetson-xavier-nx-8gb'?");
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
    expect(r.stdout).toBe('');
  });

  it('gives machine-readable output', () => {
    const r = edgebox('validate', 'examples/article-box.yaml', '-o', 'json');
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: true, box: 'vision-cell', diagnostics: [] });
  });
});
