import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { edgebox } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'edgebox-render-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('edgebox render', () => {
  it('writes nothing, not even the directory, for an invalid spec (exit 2)', () => {
    const out = join(scratch, 'invalid');
    const r = edgebox('render', 'test/fixtures/invalid/many-errors.yaml', '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('spec.unknown-hardware');
    expect(existsSync(out)).toBe(false);
  });

  it('requires --out (exit 2)', () => {
    expect(edgebox('render', 'examples/article-box.yaml').code).toBe(2);
  });

  it('writes the files, then on a second run reports them unchanged', () => {
    const out = join(scratch, 'article-box');
    const first = edgebox('render', 'examples/article-box.yaml', '--out', out, '-o', 'json');
    expect(first.code).toBe(0);
    const result = JSON.parse(first.stdout) as { box: string; written: number; unchanged: number; removed: number; files: { path: string; action: string }[] };
    expect(result).toMatchObject({ box: 'vision-cell', unchanged: 0, removed: 0 });
    expect(result.written).toBe(result.files.length);
    expect(readdirSync(join(out, 'k3s')).sort()).toEqual(['jetson-1', 'jetson-2', 'master-1', 'motor-1', 'net-1']);

    const second = edgebox('render', 'examples/article-box.yaml', '--out', out);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`box 'vision-cell' rendered: 0 file(s) written, ${result.written} unchanged, 0 removed`);
  });

  it('writes a Fleet layout for several specs, and refuses several specs without --gitops', () => {
    const out = join(scratch, 'fleet');
    const r = edgebox('render', 'examples/article-box.yaml', 'examples/jetson-mate.yaml', '--gitops', 'fleet', '--out', out, '-o', 'json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { boxes: string[] }).boxes).toEqual(['vision-cell', 'jetson-mate']);
    expect(readdirSync(join(out, 'boxes')).sort()).toEqual(['jetson-mate', 'vision-cell']);
    expect(readdirSync(join(out, 'boxes', 'jetson-mate'))).toContain('fleet.yaml');
    expect(edgebox('render', 'examples/article-box.yaml', 'examples/jetson-mate.yaml', '--out', join(scratch, 'two')).code).toBe(2);
    expect(edgebox('render', 'examples/article-box.yaml', '--gitops', 'argocd', '--out', join(scratch, 'argo')).code).toBe(2);
  });
});
