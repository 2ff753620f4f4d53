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
    // The controller is a bundle of its own: its errors still reach the one handler as errors.
    ['a controller without its spec', 2, ['controller', '--spec', 'no/such/box.yaml', '--kubeconfig', 'test/fixtures/kubeconfig-two-contexts.yaml']],
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

  it.each([
    ['a missing file', ['plan', 'no/such/box.yaml', '-o', 'json'], /^input\.unreadable$/],
    ['an unknown option', ['validate', 'examples/article-box.yaml', '--bogus', '-o', 'json'], /^cli\.usage$/],
    ['an unknown context', ['status', '--kubeconfig', 'test/fixtures/kubeconfig-two-contexts.yaml', '--context', 'nope', '-o', 'json'], /^kube\.no-context$/],
  ])('under -o json, %s is printed as a JSON error document on stderr', (_name, args, code) => {
    const r = edgebox(...args);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stderr) as { errors: { code: string; severity: string; message: string }[] };
    expect(doc.errors[0]!.code).toMatch(code);
    expect(doc.errors[0]!.severity).toBe('error');
    expect(r.stdout).toBe('');
  });
});
