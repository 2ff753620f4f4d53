import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findPackage } from '../../src/image/inputs.js';
import { layerOf, readTar, sha256, tarOf } from '../../src/image/layer.js';
import {
  baseFiles,
  baseProblems,
  imageConfig,
  layerEntries,
  PLATFORMS,
  resolveEntry,
  selectPackageFiles,
  type ImageEntry,
  type PackageEntry,
} from '../../src/image/plan.js';

const [amd64, arm64] = PLATFORMS as [(typeof PLATFORMS)[number], (typeof PLATFORMS)[number]];
const file = (path: string, content = path, mode = 0o644): ImageEntry => ({ type: 'file', path, mode, content: Buffer.from(content) });
/** The first bytes of an ELF header with this e_machine. */
const elf = (machine: number): Buffer => {
  const b = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46]).copy(b);
  b.writeUInt16LE(machine, 18);
  return b;
};

/** What Debian's libc6, libgcc-s1 and libstdc++6 put where, as in bookworm (amd64). */
function amd64Base(): ImageEntry[] {
  const t = amd64.triplet;
  return [
    file(`/lib/${t}/ld-linux-x86-64.so.2`, 'ld', 0o755),
    { type: 'symlink', path: '/lib64/ld-linux-x86-64.so.2', target: `/lib/${t}/ld-linux-x86-64.so.2` },
    ...['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'libgcc_s.so.1'].map((l) => file(`/lib/${t}/${l}`)),
    file(`/usr/lib/${t}/libstdc++.so.6.0.30`),
    { type: 'symlink', path: `/usr/lib/${t}/libstdc++.so.6`, target: 'libstdc++.so.6.0.30' },
  ];
}

describe('image plan: what goes into the base layer', () => {
  it('takes a package’s shared libraries, their symlinks and its copyright file, and nothing else', () => {
    const entries: PackageEntry[] = [
      { path: './', type: 'directory', mode: 0o755 },
      { path: './lib/aarch64-linux-gnu/libc.so.6', type: 'file', mode: 0o100755, content: Buffer.from('c') },
      { path: './lib/ld-linux-aarch64.so.1', type: 'symlink', mode: 0o777, target: 'aarch64-linux-gnu/ld-linux-aarch64.so.1' },
      { path: './usr/lib/aarch64-linux-gnu/gconv/UTF-16.so', type: 'file', mode: 0o644, content: Buffer.from('g') },
      { path: './usr/share/gdb/auto-load/usr/lib/aarch64-linux-gnu/libstdc++.so.6.0.30-gdb.py', type: 'file', mode: 0o644, content: Buffer.from('p') },
      { path: './usr/share/doc/libc6/copyright', type: 'file', mode: 0o644, content: Buffer.from('(c)') },
      { path: './usr/share/doc/libc6/changelog.Debian.gz', type: 'file', mode: 0o644, content: Buffer.from('z') },
      { path: './etc/ld.so.conf.d/aarch64-linux-gnu.conf', type: 'file', mode: 0o644, content: Buffer.from('e') },
    ];
    expect(selectPackageFiles('libc6', entries).map((e) => [e.path, e.type === 'file' ? e.mode.toString(8) : e.type])).toEqual([
      ['/lib/aarch64-linux-gnu/libc.so.6', '755'],
      ['/lib/ld-linux-aarch64.so.1', 'symlink'],
      ['/usr/share/doc/libc6/copyright', '644'],
    ]);
  });

  it('finds nothing missing in a complete base, following the loader’s and libstdc++’s symlinks', () => {
    expect(baseProblems(amd64, [...amd64Base(), ...baseFiles()], elf(62))).toEqual([]);
  });

  it('names a missing library, a dangling loader link and a Node built for the other machine', () => {
    const base = amd64Base().filter((e) => !e.path.endsWith('libstdc++.so.6.0.30') && !e.path.endsWith(`${amd64.triplet}/ld-linux-x86-64.so.2`));
    expect(baseProblems(amd64, base, elf(183))).toEqual([
      'node is not an ELF binary for linux/amd64 (e_machine 183, want 62)',
      'the loader /lib64/ld-linux-x86-64.so.2 is missing',
      expect.stringMatching(/^libstdc\+\+\.so\.6 is missing from /),
    ]);
    expect(baseProblems(arm64, [], Buffer.from('#!/bin/sh\n'))[0]).toMatch(/not an ELF binary for linux\/arm64 \(e_machine -1/);
  });

  it('resolves relative and absolute symlinks, and gives up on a loop', () => {
    const entries: ImageEntry[] = [
      file('/a/real'),
      { type: 'symlink', path: '/a/rel', target: 'real' },
      { type: 'symlink', path: '/b/abs', target: '/a/rel' },
      { type: 'symlink', path: '/loop', target: '/loop' },
    ];
    expect(resolveEntry(entries, '/b/abs')?.path).toBe('/a/real');
    expect(resolveEntry(entries, '/loop')).toBeUndefined();
    expect(resolveEntry(entries, '/none')).toBeUndefined();
  });
});

describe('image plan: layers', () => {
  it('adds every parent directory once and orders entries by path', () => {
    const out = layerEntries([file('/usr/local/bin/node'), file('/app/package.json'), file('/app/dist/bundle/main.js')]);
    expect(out.map((e) => `${e.type[0]} ${e.path}`)).toEqual([
      'd /app',
      'd /app/dist',
      'd /app/dist/bundle',
      'f /app/dist/bundle/main.js',
      'f /app/package.json',
      'd /usr',
      'd /usr/local',
      'd /usr/local/bin',
      'f /usr/local/bin/node',
    ]);
  });

  it('refuses two different entries for one path, and a path that is not clean and absolute', () => {
    expect(() => layerEntries([file('/etc/passwd', 'a'), file('/etc/passwd', 'b')])).toThrow(/two different entries for \/etc\/passwd/);
    expect(layerEntries([file('/etc/passwd', 'a'), file('/etc/passwd', 'a')])).toHaveLength(2);
    for (const bad of ['etc/passwd', '/etc/../passwd', '/']) expect(() => layerEntries([file(bad)])).toThrow(/not a clean absolute path/);
  });

  it('a layer is the same bytes whatever order its entries come in, and reads back as written', async () => {
    const pathArb = fc.array(fc.constantFrom('a', 'b', 'lib', 'usr', 'x.so.6'), { minLength: 1, maxLength: 4 }).map((p) => `/${p.join('/')}`);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(pathArb, { minLength: 1, maxLength: 6 }), async (paths) => {
        // A path that is also another's parent directory stays a directory.
        const files = paths.filter((p) => !paths.some((q) => q.startsWith(`${p}/`))).map((p) => file(p, `content of ${p}`));
        const one = await tarOf(layerEntries(files));
        const other = await tarOf(layerEntries([...files].reverse()));
        expect(one.equals(other)).toBe(true);
        const back = await readTar(one);
        expect(back.filter((e) => e.type === 'file').map((e) => [`/${e.path}`, e.content!.toString()])).toEqual(
          layerEntries(files)
            .filter((e) => e.type === 'file')
            .map((e) => [e.path, e.type === 'file' ? e.content.toString() : '']),
        );
      }),
      { numRuns: 30 },
    );
  });

  it('writes nothing of the host: root owner, no names, the epoch as mtime; digests of the gzip and of the tar', async () => {
    const tar = await tarOf(layerEntries([file('/etc/hostname'), { type: 'symlink', path: '/lib64/ld', target: '/lib/ld' }, ...baseFiles()]));
    const headers = await readTar(tar);
    expect(headers.find((e) => e.path === 'tmp')?.mode).toBe(0o1777);
    // ustar header fields: uid at 108, gid at 116, mtime at 136, uname at 265, gname at 297.
    for (
      let off = 0;
      off + 512 <= tar.length && tar[off] !== 0;
      off += 512 * (1 + Math.ceil(parseInt(tar.subarray(off + 124, off + 135).toString(), 8) / 512))
    ) {
      expect(parseInt(tar.subarray(off + 108, off + 115).toString(), 8)).toBe(0);
      expect(parseInt(tar.subarray(off + 116, off + 123).toString(), 8)).toBe(0);
      expect(parseInt(tar.subarray(off + 136, off + 147).toString(), 8)).toBe(0);
      expect(tar.subarray(off + 265, off + 329).every((b) => b === 0)).toBe(true);
    }
    const layer = layerOf(tar);
    expect(layer.diffId).toBe(sha256(tar));
    expect(gunzipSync(layer.blob).equals(tar)).toBe(true);
    expect(layer.digest).toBe(sha256(layer.blob));
  });

  it('the config dates nothing and runs the entrypoint as the non-root user', () => {
    const config = imageConfig(arm64, [{ digest: 'sha256:a', diffId: 'sha256:b', size: 1 }], { x: 'y' }) as Record<string, unknown>;
    expect(config).not.toHaveProperty('created');
    expect(config).not.toHaveProperty('history');
    expect(config).toMatchObject({ architecture: 'arm64', os: 'linux', config: { User: '65532:65532' }, rootfs: { diff_ids: ['sha256:b'] } });
  });
});

describe('image inputs: a Packages index', () => {
  const index = [
    'Package: libc6-dev\nVersion: 2.36-9\nFilename: pool/main/g/glibc/libc6-dev_2.36-9_arm64.deb\nSHA256: aa',
    'Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u14\nArchitecture: arm64\nFilename: pool/main/g/glibc/libc6_2.36-9+deb12u14_arm64.deb\nSize: 1\nSHA256: 01f4',
  ].join('\n\n');

  it('finds the stanza of exactly that package', () => {
    expect(findPackage(index, 'libc6')).toEqual({
      name: 'libc6',
      version: '2.36-9+deb12u14',
      filename: 'pool/main/g/glibc/libc6_2.36-9+deb12u14_arm64.deb',
      sha256: '01f4',
    });
    expect(findPackage(index, 'libc')).toBeUndefined();
  });
});
