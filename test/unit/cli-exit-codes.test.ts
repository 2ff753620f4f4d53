import { describe, expect, it } from 'vitest';
import { edgebox } from './run-cli.js';

describe('edgebox CLI exit codes', () => {
  it.each([
    ['a valid spec', ['validate', 'examples/article-box.yaml'], 0],
    ['an invalid spec', ['validate', 'test/fixtures/invalid/many-errors.yaml'], 2],
    ['broken YAML', ['validate', 'test/fixtures/invalid/bad-yaml.yaml'], 2],
    ['a requirement nothing satisfies', ['validate', 'test/fixtures/invalid/unsatisfiable.yaml'], 2],
    ['a missing file', ['validate', 'no/such/box.yaml'], 2],
    ['an unknown command', ['valdate', 'examples/article-box.yaml'], 2],
    ['an unknown output format', ['validate', 'examples/article-box.yaml', '-o', 'xml'], 2],
    ['help', ['--help'], 0],
  ])('%s exits %i', (_name, args, code) => {
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
