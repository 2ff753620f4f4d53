import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { outDirProblem, writeOutput } from '../../src/render/output-dir.js';
import { renderBox } from '../../src/render/render-box.js';
import { labBox } from './render-fixtures.js';

const CTX = { cwd: '/home/ada/boxes/cell', home: '/home/ada' };

describe('which --out render refuses', () => {
  it.each([
    ['/', 'the root of the file system'],
    ['/home/ada', 'your home directory'],
    ['/home/ada/boxes/cell', 'the working directory'],
    ['/home/ada/boxes', 'a parent of the working directory'],
    ['/home', 'a parent of the working directory'],
  ])('%s: %s', (dir, what) => {
    const d = outDirProblem(dir, CTX);
    expect(d).toMatchObject({ code: 'render.unsafe-out', severity: 'error', path: '--out' });
    expect(d!.message).toContain(what);
    expect(d!.hint).toContain('--out ./rendered');
  });

  it.each(['/home/ada/boxes/cell/rendered', '/home/ada/boxes/other', '/home/ada/boxes/cell..x', '/tmp/out', '/home/ada/rendered'])('%s is fine', (dir) => {
    expect(outDirProblem(dir, CTX)).toBeUndefined();
  });
});

describe('render writes only inside --out and never through a symlink', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const files = renderBox(labBox());
  const inputError = async (p: Promise<unknown>) => {
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EdgeboxError);
    expect((e as EdgeboxError).kind).toBe('input');
    return (e as EdgeboxError).diagnostics;
  };

  it('refuses planted symlinks, to a directory and to a file, and writes nothing at all', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgebox-out-'));
    const out = join(dir, 'out');
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'precious'), 'keep\n');
    await mkdir(out);
    await symlink(outside, join(out, 'manifests'));
    await symlink(join(outside, 'precious'), join(out, 'README.md'));

    const ds = await inputError(writeOutput(out, files));
    expect(ds.map((d) => [d.code, d.message])).toEqual([
      ['render.unsafe-out', `${join(out, 'README.md')} is a symlink; render writes nothing through one`],
      ['render.unsafe-out', `${join(out, 'manifests')} is a symlink; render writes nothing through one`],
    ]);
    expect(await readdir(outside)).toEqual(['precious']);
    expect(await readFile(join(outside, 'precious'), 'utf8')).toBe('keep\n');
    expect((await readdir(out)).sort()).toEqual(['README.md', 'manifests']);
  });

  it('removes stale files only inside --out: a symlinked module directory is left alone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgebox-out-'));
    const out = join(dir, 'out');
    await writeOutput(out, files);
    // Someone replaces a module's directory by a link to a directory elsewhere holding files of
    // the same names; the spec then drops that module.
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere);
    await writeFile(join(elsewhere, 'config.yaml'), 'theirs\n');
    await rm(join(out, 'k3s/a1'), { recursive: true });
    await symlink(elsewhere, join(out, 'k3s/a1'));

    const actions = await writeOutput(
      out,
      files.filter((f) => !f.path.startsWith('k3s/a1/')),
    );
    expect(actions.filter((a) => a.action !== 'unchanged')).toEqual([]);
    expect(await readFile(join(elsewhere, 'config.yaml'), 'utf8')).toBe('theirs\n');
  });

  it('never removes --out itself when its last rendered file goes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgebox-out-'));
    const out = join(dir, 'out');
    await writeOutput(out, [
      { path: 'k3s/a1/config.yaml', content: 'x\n' },
      { path: 'README.md', content: 'r\n' },
    ]);
    await writeOutput(out, [{ path: 'k3s/a1/config.yaml', content: 'x\n' }]);
    expect(existsSync(out)).toBe(true);
    expect(existsSync(join(out, 'README.md'))).toBe(false);
  });

  it('follows a symlink given as --out itself, and judges where it leads', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgebox-out-'));
    const target = join(dir, 'real');
    await symlink(target, join(dir, 'link'));
    await mkdir(target);
    await writeOutput(join(dir, 'link'), files);
    expect(await readdir(target)).toContain('README.md');

    // A home directory of the test's own, so that a regression writes nowhere that matters.
    const home = join(dir, 'home');
    await mkdir(home);
    await symlink(home, join(dir, 'to-home'));
    const ds = await inputError(writeOutput(join(dir, 'to-home'), files, { ctx: { cwd: target, home } }));
    expect(ds.map((d) => d.code)).toEqual(['render.unsafe-out']);
    expect(ds[0]!.message).toContain('your home directory');
    expect(await readdir(home)).toEqual([]);
  });

  it('refuses the working directory given as "."', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgebox-out-'));
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const ds = await inputError(writeOutput('.', files, { ctx: { cwd: dir, home: join(dir, 'home') } }));
      expect(ds[0]!.message).toContain('the working directory');
      expect(await readdir(dir)).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });
});
