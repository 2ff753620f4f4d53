import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { runScript } from '../cli/run-script.js';
import { cacheRoot } from '../local/cache.js';
import { CONTROLLER_IMAGE, EDGEBOX_VERSION } from '../render/controller.js';
import { appEntries } from './app.js';
import { platformInputs } from './inputs.js';
import { layerOf, sha256, tarOf } from './layer.js';
import {
  baseFiles,
  baseProblems,
  imageConfig,
  imageIndex,
  imageLabels,
  imageManifest,
  layerEntries,
  layoutIndex,
  MEDIA,
  NODE_PATH,
  PLATFORMS,
  selectPackageFiles,
  type BuiltLayer,
  type Descriptor,
  type ImageEntry,
} from './plan.js';

/**
 * `npm run image -- [--out DIR] [--platform linux/amd64,linux/arm64] [--refresh] [-o json]`
 *
 * Builds the controller's OCI image (src/image/plan.ts says what is in it) without a container
 * engine: an OCI image layout in `<out>/layout` (`crane push`, `skopeo copy oci:`) and the
 * same as one archive, `<out>/edgebox-<version>.oci.tar`, which `k3s ctr images import`,
 * `podman load` and K3s's airgap images directory take. Prints the index digest: two builds of the
 * same commit print the same one.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Options {
  out: string;
  platforms: string[];
  refresh: boolean;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { out: join(ROOT, 'dist', 'oci'), platforms: PLATFORMS.map((p) => p.name), refresh: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--refresh') opts.refresh = true;
    else if (a === '--out' && argv[i + 1]) opts.out = resolve(argv[++i]!);
    else if (a === '--platform' && argv[i + 1]) opts.platforms = argv[++i]!.split(',');
    else if ((a === '-o' || a === '--output') && argv[i + 1]) opts.json = argv[++i] === 'json';
    else
      throw inputError(
        'image.usage',
        `unknown or incomplete argument ${a}`,
        `use --out DIR, --platform ${PLATFORMS.map((p) => p.name).join(',')}, --refresh, -o json`,
      );
  }
  const unknown = opts.platforms.filter((p) => !PLATFORMS.some((k) => k.name === p));
  if (unknown.length > 0) throw inputError('image.usage', `unknown platform ${unknown.join(', ')}`, `known: ${PLATFORMS.map((p) => p.name).join(', ')}`);
  return opts;
}

const json = (o: object): Buffer => Buffer.from(JSON.stringify(o));

export interface ImageReport {
  reference: string;
  digest: string;
  layout: string;
  archive: string;
  platforms: { platform: string; manifest: string; layers: { name: string; digest: string; size: number; unpacked: number }[] }[];
  seconds: number;
}

async function build(opts: Options, progress: (m: string) => void): Promise<ImageReport> {
  const started = Date.now();
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer): string => {
    const d = sha256(b);
    blobs.set(d, b);
    return d;
  };
  const addLayer = async (entries: ImageEntry[]): Promise<BuiltLayer & { unpacked: number }> => {
    const tar = await tarOf(layerEntries(entries));
    const l = layerOf(tar);
    blobs.set(l.digest, l.blob);
    return { digest: l.digest, diffId: l.diffId, size: l.size, unpacked: tar.length };
  };

  progress('bundling the CLI and the controller with their dependencies');
  const app = await addLayer(await appEntries(ROOT, EDGEBOX_VERSION));
  const annotations = { 'org.opencontainers.image.version': EDGEBOX_VERSION, 'org.opencontainers.image.title': 'edgebox' };
  const manifests: Descriptor[] = [];
  const report: ImageReport['platforms'] = [];
  for (const platform of PLATFORMS.filter((p) => opts.platforms.includes(p.name))) {
    const inputs = await platformInputs(cacheRoot(), platform, { refresh: opts.refresh, progress });
    const baseEntries = [...inputs.packages.flatMap((p) => selectPackageFiles(p.pkg.name, p.entries)), ...baseFiles()];
    const problems = baseProblems(platform, baseEntries, inputs.node);
    if (problems.length > 0)
      throw failure('image.base-broken', `the ${platform.name} image would not start: ${problems.join('; ')}`, 'check the base packages in src/image/plan.ts');
    progress(`compressing the ${platform.name} layers`);
    const base = await addLayer(baseEntries);
    const node = await addLayer([{ type: 'file', path: NODE_PATH, mode: 0o755, content: inputs.node }]);
    const layers = [base, node, app];
    const config = json(imageConfig(platform, layers, imageLabels(EDGEBOX_VERSION, inputs.provenance)));
    const configDesc: Descriptor = { mediaType: MEDIA.config, digest: put(config), size: config.length };
    const manifest = json(imageManifest(configDesc, layers, annotations));
    const digest = put(manifest);
    manifests.push({ mediaType: MEDIA.manifest, digest, size: manifest.length, platform: { architecture: platform.architecture, os: 'linux' } });
    report.push({
      platform: platform.name,
      manifest: digest,
      layers: (['base', 'node', 'app'] as const).map((name, i) => ({ name, digest: layers[i]!.digest, size: layers[i]!.size, unpacked: layers[i]!.unpacked })),
    });
  }
  const index = json(imageIndex(manifests, annotations));
  const indexDesc: Descriptor = { mediaType: MEDIA.index, digest: put(index), size: index.length };
  const layout: ImageEntry[] = [
    { type: 'file', path: '/oci-layout', mode: 0o644, content: json({ imageLayoutVersion: '1.0.0' }) },
    { type: 'file', path: '/index.json', mode: 0o644, content: json(layoutIndex(indexDesc, CONTROLLER_IMAGE, EDGEBOX_VERSION)) },
    ...[...blobs].map(([d, b]): ImageEntry => ({ type: 'file', path: `/blobs/sha256/${d.slice('sha256:'.length)}`, mode: 0o644, content: b })),
  ];

  progress(`writing ${opts.out}`);
  const layoutDir = join(opts.out, 'layout');
  // A layout holds only this build's blobs: a stale one would survive into the archive's peers.
  await rm(layoutDir, { recursive: true, force: true });
  for (const e of layout) {
    if (e.type !== 'file') continue;
    const path = join(layoutDir, e.path);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, e.content);
  }
  const archive = join(opts.out, `edgebox-${EDGEBOX_VERSION}.oci.tar`);
  await writeFile(archive, await tarOf(layerEntries(layout)));
  return { reference: CONTROLLER_IMAGE, digest: indexDesc.digest, layout: layoutDir, archive, platforms: report, seconds: (Date.now() - started) / 1000 };
}

function text(r: ImageReport): string {
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  const lines = [`${r.reference} ${r.digest}`, `  layout  ${r.layout}`, `  archive ${r.archive}`];
  for (const p of r.platforms) {
    lines.push(`  ${p.platform} ${p.manifest}`);
    for (const l of p.layers) lines.push(`    ${l.name.padEnd(5)} ${mb(l.size).padStart(8)} (${mb(l.unpacked)} unpacked) ${l.digest}`);
  }
  lines.push(`  built in ${r.seconds.toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}

await runScript('image', async () => {
  const opts = parseArgs(process.argv.slice(2));
  const report = await build(opts, (m) => process.stderr.write(`image: ${m}\n`));
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : text(report));
});
