import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { edgebox, root } from './run-cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'edgebox-bad-input-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ARTICLE = readFileSync(join(root, 'examples/article-box.yaml'), 'utf8');
function fixture(name: string, text: string): string {
  const file = join(scratch, name);
  writeFileSync(file, text);
  return file;
}

/** Located (file:line:col), with a code and a hint, and never a stack trace. */
function expectLocated(stderr: string, file: string, code: string) {
  expect(stderr).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: error ${code}: `, 'm'));
  expect(stderr).toContain('hint: ');
  expect(stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
  expect(stderr).not.toContain('error internal');
}

describe('edgebox plan on the specs that crashed it (issue 15)', () => {
  it.each([
    ['an IPv6 zone id in an address', 'zone.yaml', () => ARTICLE.replace('address: 192.168.8.11', 'address: "fe80::1%eth0"'), 'spec.address-zone'],
    ['a block sequence 1,000 deep', 'deep-1000.yaml', () => Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}-`).join('\n'), 'spec.too-deep'],
    [
      'a block sequence 10,000 deep (50 MB)',
      'deep-10000.yaml',
      () => Array.from({ length: 10_000 }, (_, i) => `${' '.repeat(i)}-`).join('\n'),
      'spec.too-large',
    ],
    ['a compact block sequence 10,000 deep', 'compact.yaml', () => `${'- '.repeat(10_000)}x\n`, 'spec.too-deep'],
    [
      'an IPv4-mapped twin of an address',
      'mapped.yaml',
      () => ARTICLE.replace('address: 192.168.8.12', 'address: "::ffff:192.168.8.11"'),
      'spec.address-collision',
    ],
    [
      'a label under edgebox.dev/',
      'label.yaml',
      () => ARTICLE.replace('    - name: jetson-1\n', '    - name: jetson-1\n      labels: { edgebox.dev/module: x }\n'),
      'spec.reserved-label',
    ],
  ])('%s exits 2 with a located error', (_name, name, text, code) => {
    const file = fixture(name, text());
    const r = edgebox('plan', file);
    expect(r.code).toBe(2);
    expectLocated(r.stderr, file, code);
  });
});

describe('edgebox render --out that would harm files outside it (exit 2)', () => {
  const run = (out: string, home: string) =>
    spawnSync(process.execPath, ['bin/edgebox.js', 'render', 'examples/article-box.yaml', '--out', out], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', HOME: home },
    });

  it('refuses the home directory and writes nothing', () => {
    const home = join(scratch, 'home');
    mkdirSync(home);
    const r = run(home, home);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`error render.unsafe-out: --out ${home} is your home directory`);
    expect(r.stderr).toContain('hint: pass a directory of its own');
    expect(readdirSync(home)).toEqual([]);
  });

  it('refuses a planted symlink and writes nothing through it', () => {
    const out = join(scratch, 'out');
    const outside = join(scratch, 'outside');
    mkdirSync(out);
    mkdirSync(outside);
    symlinkSync(outside, join(out, 'k3s'));
    const r = run(out, join(scratch, 'no-home'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`error render.unsafe-out: ${join(out, 'k3s')} is a symlink; render writes nothing through one (--out)`);
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(out)).toEqual(['k3s']);
  });
});
