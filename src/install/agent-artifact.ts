import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { failure } from '../diagnostics/diagnostic.js';
import { appEntries } from '../image/app.js';
import { nodeBinary } from '../image/inputs.js';
import { tarOf } from '../image/layer.js';
import { APP_DIR, layerEntries, PLATFORMS, type ImageEntry } from '../image/plan.js';
import { cacheRoot } from '../local/cache.js';
import { AGENT_WRAPPER, agentArtifactName, agentVersionDir, agentWrapper } from './agent-runtime.js';

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
  /** inputsDigest() of what it was bundled from. */
  inputs?: string;
  sha256: string;
  bytes: number;
  unpackedBytes: number;
}

/** The artefact at `path` when its record passes `matches` and its bytes still match their sum. */
async function reuse(path: string, recordPath: string, sumPath: string, matches: (r: Record_) => boolean): Promise<AgentArtifact | undefined> {
  if (!((await exists(path)) && (await exists(recordPath)) && (await exists(sumPath)))) return undefined;
  const record = JSON.parse(await readFile(recordPath, 'utf8')) as Record_;
  const sum = (await readFile(sumPath, 'utf8')).split(/\s/)[0];
  if (!matches(record) || sum !== record.sha256) return undefined;
  const gz = await readFile(path);
  return hex(gz) === sum ? { path, sha256: sum, bytes: gz.length, unpackedBytes: record.unpackedBytes } : undefined;
}

/**
 * A digest of what the app bundle is made of: the compiled JavaScript under dist/ (not the web
 * assets, the OCI image or the npm bundles), the lockfile (the inlined dependencies) and the Node
 * binary.
 */
async function inputsDigest(root: string, node: Buffer): Promise<string> {
  const h = createHash('sha256').update(hex(node));
  const dist = join(root, 'dist');
  const files = (await readdir(dist, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile() && d.name.endsWith('.js'))
    .map((d) => join(d.parentPath, d.name))
    .filter((f) => !/^(web|oci|bundle)\//.test(relative(dist, f)))
    .sort();
  for (const f of [...files, join(root, 'package-lock.json')])
    h.update(relative(root, f))
      .update('\0')
      .update(await readFile(f));
  return h.digest('hex');
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
  const recordPath = `${path}.json`;
  const sumPath = `${path}.sha256`;
  // What the bundle is made of, read in well under a second: an unchanged build skips the bundling
  // (2-3 s), which keeps a re-run of `edgebox install` on an installed box within its 10 s.
  const inputs = await inputsDigest(o.root, node);
  const reusable = await reuse(path, recordPath, sumPath, (r) => r.inputs === inputs);
  if (reusable) {
    o.progress(`reusing ${path}`);
    return reusable;
  }
  o.progress(`bundling edgebox ${o.version} with its dependencies`);
  const entries = agentArtifactEntries(node, await appEntries(o.root, o.version), o.version);
  const tar = await tarOf(entries);
  const tarDigest = hex(tar);
  const unpackedBytes = entries.reduce((n, e) => n + (e.type === 'file' ? e.content.length : 0), 0);

  const same = await reuse(path, recordPath, sumPath, (r) => r.tar === tarDigest);
  if (same) {
    o.progress(`reusing ${path}`);
    await writeFile(recordPath, `${JSON.stringify({ ...(JSON.parse(await readFile(recordPath, 'utf8')) as Record_), inputs }, null, 2)}\n`);
    return same;
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
  await write(recordPath, `${JSON.stringify({ tar: tarDigest, inputs, sha256, bytes: gz.length, unpackedBytes } satisfies Record_, null, 2)}\n`);
  return { path, sha256, bytes: gz.length, unpackedBytes };
}
