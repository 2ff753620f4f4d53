import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { K3S_VERSION_PATTERN } from '../spec/k3s-version.js';
import type { LocalDigests } from './local-digests.js';

/**
 * `--k3s-version V`: the official K3s release binaries, as K3s's install script gets them: the
 * release's `sha256sum-<arch>.txt` first, then `k3s` (amd64) or `k3s-arm64`, each checked against
 * it before it is kept. Both are kept in `<cache>/k3s-releases/<version>/`: a second install (or
 * one without the internet, after one with it) downloads nothing, and a file in the cache is
 * checked against its sums again each time, so a truncated or altered one is fetched anew.
 * `--k3s-release-url` points at a mirror laid out like GitHub's releases (`<url>/<version>/<file>`).
 */
export const K3S_RELEASE_URL = 'https://github.com/k3s-io/k3s/releases/download';

const FILE = { amd64: 'k3s', arm64: 'k3s-arm64' } as const;
export type ReleaseArch = keyof typeof FILE;

/** How long one file may take: the binary is about 70 MB, on a slow link. */
const DOWNLOAD_TIMEOUT_MS = 15 * 60_000;

export function checkReleaseVersion(version: string): void {
  if (!K3S_VERSION_PATTERN.test(version))
    throw inputError('install.k3s-version', `--k3s-version ${version} is not a K3s release tag`, 'give one as K3s tags them, for example v1.32.5+k3s1');
}

/** The digest the release's sums file gives `file`, or undefined. Lines are `<sha256>  <file>`. */
export function digestOf(sums: string, file: string): string | undefined {
  for (const line of sums.split('\n')) {
    const m = /^([0-9a-f]{64})\s+\*?(\S+)$/.exec(line.trim());
    if (m && m[2] === file) return m[1];
  }
  return undefined;
}

interface Fetched {
  path: string;
  sha256: string;
}

interface ReleaseOptions {
  version: string;
  archs: readonly ReleaseArch[];
  cache: string;
  /** What is known of the cached binaries: a cached one is hashed only if it changed, and a downloaded one is not hashed again by install. */
  digests: LocalDigests;
  baseUrl?: string;
  progress(line: string): void;
}

/** The release binary of every architecture asked, downloaded and checked, or taken from the cache. */
export async function k3sRelease(o: ReleaseOptions): Promise<Fetched[]> {
  checkReleaseVersion(o.version);
  const dir = join(o.cache, 'k3s-releases', o.version);
  await mkdir(dir, { recursive: true });
  const base = (o.baseUrl ?? K3S_RELEASE_URL).replace(/\/+$/, '');
  const url = (file: string) => `${base}/${encodeURIComponent(o.version)}/${file}`;
  const out: Fetched[] = [];
  for (const arch of o.archs) {
    const file = FILE[arch];
    const sumsFile = join(dir, `sha256sum-${arch}.txt`);
    const binary = join(dir, file);
    let sums = await readFile(sumsFile, 'utf8').catch(() => undefined);
    const cached = sums !== undefined && (await cachedDigest(o.digests, binary)) === digestOf(sums, file);
    if (cached && sums !== undefined) {
      out.push({ path: binary, sha256: digestOf(sums, file)! });
      continue;
    }
    sums = (await download(url(`sha256sum-${arch}.txt`), o.version, async (body) => Buffer.from(await new Response(body).arrayBuffer()))).toString('utf8');
    const want = digestOf(sums, file);
    if (!want)
      throw failure(
        'install.k3s-download',
        `${url(`sha256sum-${arch}.txt`)} gives no sha256 for ${file}`,
        'the mirror (--k3s-release-url) is not laid out like K3s releases; or pass the binary with --k3s-binary',
      );
    o.progress(`downloading K3s ${o.version} for ${arch} (${url(file)})`);
    const partial = `${binary}.partial`;
    const got = await download(url(file), o.version, (body) => writeHashed(body, partial, o.progress, file));
    if (got !== want) {
      await rm(partial, { force: true });
      throw failure(
        'install.k3s-download',
        `${url(file)} has sha256 ${got}, not ${want} as the release's sha256sum-${arch}.txt says`,
        'nothing was kept; run again (a download cut short), or check the mirror',
      );
    }
    await chmod(partial, 0o755);
    await rename(partial, binary);
    await o.digests.know(binary, want);
    await writeFile(sumsFile, sums);
    out.push({ path: binary, sha256: want });
  }
  return out;
}

async function cachedDigest(digests: LocalDigests, path: string): Promise<string | undefined> {
  return digests.of(path).then(
    (d) => d.sha256,
    () => undefined,
  );
}

/** The body streamed to `path` (made 0600 until checked), hashed on the way; progress every 2 s. */
async function writeHashed(body: ReadableStream<Uint8Array>, path: string, progress: (line: string) => void, what: string): Promise<string> {
  const hash = createHash('sha256');
  let bytes = 0;
  let next = Date.now() + 2000;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      if (Date.now() >= next) {
        progress(`  ${what}: ${(bytes / 1e6).toFixed(1)} MB`);
        next = Date.now() + 2000;
      }
      done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>), count, createWriteStream(path, { mode: 0o600 }));
  progress(`  ${what}: ${(bytes / 1e6).toFixed(1)} MB, done`);
  return hash.digest('hex');
}

async function download<T>(url: string, version: string, take: (body: ReadableStream<Uint8Array>) => Promise<T>): Promise<T> {
  const hint = 'check the network or the mirror (--k3s-release-url); without the internet, pass the binary with --k3s-binary';
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS), redirect: 'follow' });
  } catch (e) {
    throw failure('install.k3s-download', `cannot fetch ${url}: ${(e as Error).cause ? String((e as Error).cause) : (e as Error).message}`, hint);
  }
  if (res.status === 404)
    throw inputError('install.k3s-version', `${url} does not exist: is ${version} a K3s release?`, 'see https://github.com/k3s-io/k3s/releases for the tags');
  if (!res.ok || !res.body) throw failure('install.k3s-download', `${url} answered ${res.status}`, hint);
  try {
    return await take(res.body);
  } catch (e) {
    throw failure('install.k3s-download', `downloading ${url} failed: ${(e as Error).message}`, hint);
  }
}
