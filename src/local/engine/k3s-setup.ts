import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { failure, inputError } from '../../diagnostics/diagnostic.js';
import { cacheRoot } from '../cache.js';
import { goRun } from '../go.js';
import { seconds, silent, timed, type Progress } from '../progress.js';
import { commitFromName, k3sBuildCommand, k3sVersion, parseK3sVersion, vendoredKubernetes, type K3sSource } from './k3s-build.js';

const run = promisify(execFile);

/** `<cache>/k3s.json` (the K3s the box runs) and `<cache>/k3s-<version>/k3s.json` (how that one was made). */
export interface K3sBinary {
  version: string;
  path: string;
  /** The binary or the source tree/tarball it came from. */
  from: string;
  /** The Go that built it (absent for a copied release binary). */
  go?: string;
}

const metadataFile = (root: string) => join(root, 'k3s.json');

/** The K3s binary `setup --engine k3s` left in the cache, if it is still there and runs. */
export async function cachedK3s(root = cacheRoot()): Promise<K3sBinary | undefined> {
  let meta: K3sBinary;
  try {
    meta = JSON.parse(await readFile(metadataFile(root), 'utf8')) as K3sBinary;
  } catch {
    return undefined;
  }
  return (await binaryVersion(meta.path)) === meta.version ? meta : undefined;
}

export async function requireK3s(root = cacheRoot()): Promise<K3sBinary> {
  const k3s = await cachedK3s(root);
  if (!k3s) {
    throw failure(
      'local.k3s-not-set-up',
      `no K3s binary in ${root} for the K3s engine`,
      'run `edgebox local setup --engine k3s --k3s-binary <official k3s release binary>` (or `--k3s-source <K3s source tree or tarball>` to build it)',
    );
  }
  return k3s;
}

async function binaryVersion(file: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(file, ['--version'], { timeout: 15_000 });
    return parseK3sVersion(stdout);
  } catch {
    return undefined;
  }
}

export interface K3sSetupResult extends K3sBinary {
  built: boolean;
  ms: number;
}

/**
 * Puts a K3s binary into `<cache>/k3s-<version>/bin/k3s` and records it as the one the K3s engine
 * runs: a release binary is copied (`binary`), a source tree or tarball is built (`source`,
 * about 13 minutes of two cores). Cached by version: a source already built, or the same binary,
 * is not done again.
 */
export async function setupK3s(o: { binary?: string; source?: string; progress?: Progress; root?: string }): Promise<K3sSetupResult> {
  const progress = o.progress ?? silent;
  const root = o.root ?? cacheRoot();
  const cached = await cachedK3s(root);
  const from = o.binary ?? o.source;
  if (cached && (from === undefined || resolve(from) === cached.from)) {
    progress(`k3s ${cached.version}: already in ${cached.path}`);
    return { ...cached, built: false, ms: 0 };
  }
  if (o.binary) return { ...(await copyBinary(resolve(o.binary), root, progress)), built: false, ms: 0 };
  if (!o.source) {
    throw inputError(
      'local.k3s-source-missing',
      'no K3s in the cache and no --k3s-binary or --k3s-source to get it from',
      'pass --k3s-binary <official k3s release binary> (https://github.com/k3s-io/k3s/releases), or --k3s-source <K3s source tree or .tar.gz>',
    );
  }
  const start = Date.now();
  const made = await buildFromSource(resolve(o.source), root, progress);
  return { ...made.binary, built: made.built, ms: made.built ? Date.now() - start : 0 };
}

async function copyBinary(binary: string, root: string, progress: Progress): Promise<K3sBinary> {
  const version = await binaryVersion(binary);
  if (!version)
    throw inputError(
      'local.k3s-binary-bad',
      `${binary} is not a K3s binary (\`${binary} --version\` does not say \`k3s version ...\`)`,
      'pass the k3s binary of a K3s release',
    );
  const target = join(root, `k3s-${version}`, 'bin', 'k3s');
  await mkdir(join(root, `k3s-${version}`, 'bin'), { recursive: true });
  await copyFile(binary, partial(target));
  await rename(partial(target), target);
  progress(`k3s ${version}: copied from ${binary} to ${target}`);
  return record(root, { version, path: target, from: binary });
}

/** Where a file is made before its rename: this process's own, so two setups at once never share one. */
const partial = (path: string): string => `${path}.partial-${process.pid}`;

async function record(root: string, meta: K3sBinary): Promise<K3sBinary> {
  const text = `${JSON.stringify(meta, null, 2)}\n`;
  await writeFile(join(root, `k3s-${meta.version}`, 'k3s.json'), text);
  await writeFile(metadataFile(root), text);
  return meta;
}

async function buildFromSource(source: string, root: string, progress: Progress): Promise<{ binary: K3sBinary; built: boolean }> {
  const tree = await unpacked(source, root, progress);
  const gomod = await readFile(join(tree.dir, 'go.mod'), 'utf8').catch(() => '');
  const kubernetes = vendoredKubernetes(gomod);
  if (!kubernetes)
    throw inputError('local.k3s-source-bad', `${join(tree.dir, 'go.mod')} is not K3s's (no k8s.io/kubernetes replace)`, 'pass a K3s source tree or tarball');
  const src: K3sSource = { dir: tree.dir, commit: tree.commit, kubernetes };
  const version = k3sVersion(src);
  const go = (await goRun(['env', 'GOVERSION'], tree.dir)).trim();
  const binDir = join(root, `k3s-${version}`, 'bin');
  await mkdir(binDir, { recursive: true });
  const target = join(binDir, 'k3s');
  if ((await binaryVersion(target)) === version) {
    progress(`k3s ${version}: already built in ${target}`);
    return { binary: await record(root, { version, path: target, from: source, go }), built: false };
  }
  const cmd = k3sBuildCommand({ source: src, goVersion: go, out: partial(target) });
  progress(`k3s ${version}: downloading Go modules (about 1 min)`);
  await timed(progress, 'download k3s modules', () => goRun(['mod', 'download'], cmd.cwd, cmd.env));
  progress(`k3s ${version}: building with ${go} (about 13 minutes on 2 cores)`);
  const { ms } = await timed(progress, 'build k3s', () => goRun(cmd.args, cmd.cwd, cmd.env));
  if ((await binaryVersion(partial(target))) !== version) {
    throw failure(
      'local.build-broken',
      `k3s was built but \`k3s --version\` does not report ${version}`,
      `remove ${binDir} and run \`edgebox local setup --engine k3s\` again`,
    );
  }
  await rename(partial(target), target);
  progress(`k3s ${version}: built in ${seconds(ms)}`);
  return { binary: await record(root, { version, path: target, from: source, go }), built: true };
}

/** A source directory as it is; a tarball unpacked once into `<cache>/k3s-src/<sha256 prefix>/`. */
async function unpacked(source: string, root: string, progress: Progress): Promise<{ dir: string; commit: string }> {
  const isDir = (await stat(source).catch(() => undefined))?.isDirectory();
  const named = (dir: string, name: string) => {
    const commit = commitFromName(name);
    if (!commit)
      throw inputError('local.k3s-source-bad', `cannot tell the K3s commit of ${source}`, 'name the tree or tarball k3s-<commit> / k3s-src-<commit>.tar.gz');
    return { dir, commit };
  };
  if (isDir) return named(source, basename(source));
  const sha = await new Promise<string>((done, fail) => {
    const h = createHash('sha256');
    createReadStream(source)
      .on('error', fail)
      .on('data', (d) => h.update(d))
      .on('end', () => done(h.digest('hex')));
  });
  const into = join(root, 'k3s-src', sha.slice(0, 12));
  const exists = await access(into).then(
    () => true,
    () => false,
  );
  if (!exists) {
    progress(`unpacking ${source} into ${into}`);
    await mkdir(partial(into), { recursive: true });
    await run('tar', ['-xzf', source, '-C', partial(into)]);
    // Another setup may have unpacked it meanwhile: its tree is the same.
    await rename(partial(into), into).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
      await rm(partial(into), { recursive: true, force: true });
    });
  }
  const dirs = (await readdir(into, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.'));
  // The tarball holds one top directory (k3s-<commit>) or the tree itself.
  const top = dirs.length === 1 && dirs[0] ? join(into, dirs[0].name) : into;
  return named(top, top === into ? basename(source) : basename(top));
}
