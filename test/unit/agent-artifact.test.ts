import { describe, expect, it } from 'vitest';
import type { ImageEntry } from '../../src/image/plan.js';
import { agentArtifactEntries } from '../../src/install/agent-artifact.js';
import { agentArtifactName } from '../../src/install/agent-runtime.js';
import { AGENT_MIN_GLIBC, AGENT_WRAPPER, agentRuntimeProblem, agentVersionDir, agentWrapper } from '../../src/install/agent-runtime.js';

const NODE = Buffer.from('\x7fELF node');
const APP: ImageEntry[] = [
  { type: 'file', path: '/app/package.json', mode: 0o644, content: Buffer.from('{"version":"1.2.3"}\n') },
  { type: 'file', path: '/app/dist/bundle/main.js', mode: 0o644, content: Buffer.from('main') },
  { type: 'file', path: '/app/dist/bundle/controller.js', mode: 0o644, content: Buffer.from('controller') },
  { type: 'file', path: '/app/node_modules/yaml/bin.mjs', mode: 0o755, content: Buffer.from('yaml') },
];
const summary = (entries: ImageEntry[]): string[] => entries.map((e) => `${e.type} ${e.path} ${e.type === 'symlink' ? e.target : e.mode.toString(8)}`);

describe('agentArtifactEntries', () => {
  it('lays out the runtime and the app under the version directory and the wrapper at /usr/local/bin, in archive order', () => {
    expect(summary(agentArtifactEntries(NODE, APP, '1.2.3'))).toEqual([
      'directory /opt/edgebox/1.2.3 755',
      'directory /opt/edgebox/1.2.3/app 755',
      'directory /opt/edgebox/1.2.3/app/dist 755',
      'directory /opt/edgebox/1.2.3/app/dist/bundle 755',
      'file /opt/edgebox/1.2.3/app/dist/bundle/controller.js 644',
      'file /opt/edgebox/1.2.3/app/dist/bundle/main.js 644',
      'directory /opt/edgebox/1.2.3/app/node_modules 755',
      'directory /opt/edgebox/1.2.3/app/node_modules/yaml 755',
      'file /opt/edgebox/1.2.3/app/node_modules/yaml/bin.mjs 755',
      'file /opt/edgebox/1.2.3/app/package.json 644',
      'directory /opt/edgebox/1.2.3/bin 755',
      'file /opt/edgebox/1.2.3/bin/node 755',
      // Last, so that unpacking switches to the new version only once it is all there.
      'file /usr/local/bin/edgebox 755',
    ]);
  });

  it('carries the contents unchanged: the node binary, the app files, the wrapper', () => {
    const byPath = new Map(agentArtifactEntries(NODE, APP, '1.2.3').map((e) => [e.path, e]));
    const content = (p: string): string | undefined => {
      const e = byPath.get(p);
      return e?.type === 'file' ? e.content.toString() : undefined;
    };
    expect(content('/opt/edgebox/1.2.3/bin/node')).toBe(NODE.toString());
    expect(content('/opt/edgebox/1.2.3/app/dist/bundle/main.js')).toBe('main');
    expect(content(AGENT_WRAPPER)).toBe(agentWrapper('1.2.3'));
  });

  it('puts no shared directory (/opt, /usr/local/bin) in the archive: tar would reset its mode and date', () => {
    const dirs = agentArtifactEntries(NODE, APP, '1.2.3')
      .filter((e) => e.type === 'directory')
      .map((e) => e.path);
    expect(dirs.filter((d) => !d.startsWith('/opt/edgebox/1.2.3'))).toEqual([]);
  });

  it('gives two versions disjoint trees, the wrapper being the one path they share', () => {
    const paths = (v: string): Set<string> => new Set(agentArtifactEntries(NODE, APP, v).map((e) => e.path));
    const a = paths('1.2.3');
    expect([...paths('1.3.0')].filter((p) => a.has(p))).toEqual([AGENT_WRAPPER]);
  });

  it('re-roots symlinks that point into the app', () => {
    const app: ImageEntry[] = [...APP, { type: 'symlink', path: '/app/current', target: '/app/dist' }, { type: 'symlink', path: '/app/rel', target: 'dist' }];
    const links = agentArtifactEntries(NODE, app, '1.2.3').filter((e) => e.type === 'symlink');
    expect(summary(links)).toEqual(['symlink /opt/edgebox/1.2.3/app/current /opt/edgebox/1.2.3/app/dist', 'symlink /opt/edgebox/1.2.3/app/rel dist']);
  });

  it('refuses an app entry outside /app', () => {
    expect(() => agentArtifactEntries(NODE, [{ type: 'file', path: '/etc/passwd', mode: 0o644, content: Buffer.from('') }], '1.2.3')).toThrow(/outside \/app/);
  });

  it.each(['', '../1', '1.0/../..', '1.0 x', '1;rm -rf /', '$(id)', '-1'])('refuses the version %j, which goes into paths and a shell line', (v) => {
    expect(() => agentArtifactEntries(NODE, APP, v)).toThrow(/cannot name an agent directory/);
  });
});

describe('the wrapper', () => {
  it('is a POSIX sh script that execs that version of node on that version of the CLI with every argument', () => {
    const text = agentWrapper('0.1.0-rc.1+build.5');
    expect(text.startsWith('#!/bin/sh\n')).toBe(true);
    expect(text.trimEnd().split('\n').at(-1)).toBe(
      'exec /opt/edgebox/0.1.0-rc.1+build.5/bin/node /opt/edgebox/0.1.0-rc.1+build.5/app/dist/bundle/main.js "$@"',
    );
    expect(text.endsWith('\n')).toBe(true);
  });

  it('names the version directory and the archive by the version and architecture', () => {
    expect(agentVersionDir('0.1.0')).toBe('/opt/edgebox/0.1.0');
    expect(agentArtifactName('0.1.0', 'arm64')).toBe('edgebox-agent-0.1.0-linux-arm64.tar.gz');
  });
});

describe('agentRuntimeProblem', () => {
  it('has the floor of the pinned Node build (GLIBC_2.17), not nodejs.org’s 2.28', () => {
    expect(AGENT_MIN_GLIBC).toEqual([2, 17]);
  });

  it.each([
    ['2.17', 'x86_64'],
    ['2.27', 'aarch64'], // Ubuntu 18.04: L4T r32, JetPack 4
    ['2.28', 'aarch64'],
    ['2.31', 'aarch64'], // L4T r35
    ['2.36', 'x86_64'],
    ['2.39', 'arm64'],
    ['3.0', 'amd64'],
  ])('glibc %s on %s: runs', (glibc, arch) => {
    expect(agentRuntimeProblem(glibc, arch)).toBeUndefined();
  });

  it.each([
    ['2.16', 'aarch64', /^glibc 2\.16 is older than the 2\.17 the agent's Node\.js 20 needs: upgrade the module's OS to one with glibc 2\.17 or newer/],
    ['2.12', 'x86_64', /^glibc 2\.12 is older than the 2\.17/],
    ['1.9', 'x86_64', /^glibc 1\.9 is older/],
    [
      undefined,
      'aarch64',
      /^the module's glibc version could not be read \(getconf GNU_LIBC_VERSION gave nothing, as on a musl system such as Alpine.*: install a glibc distribution/,
    ],
    ['musl', 'aarch64', /could not be read \(getconf GNU_LIBC_VERSION gave "musl"/],
    ['2.31', 'armv7l', /^the module is armv7l, and the edgebox agent is built for arm64 \(aarch64\) and amd64 \(x86_64\) only: install a 64-bit OS/],
    ['2.31', 'riscv64', /^the module is riscv64/],
    ['2.31', '', /^the module is of an unknown architecture/],
    [undefined, 'armv6l', /^the module is armv6l/], // the architecture is the first thing to fix
  ])('glibc %s on %j: refused', (glibc, arch, message) => {
    const problem = agentRuntimeProblem(glibc, arch);
    expect(problem).toMatch(message);
    // One sentence: what is wrong, a colon, the fix.
    expect(problem?.split(': ')).toHaveLength(2);
    expect(problem).not.toMatch(/\n|\.$/);
  });
});
