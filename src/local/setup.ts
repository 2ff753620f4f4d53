import { execFile } from 'node:child_process';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { failure } from '../diagnostics/diagnostic.js';
import { binaryPath, toolchainPaths, type ToolchainPaths } from './cache.js';
import { checkGo, goRun } from './go.js';
import { installStages, stagesInstalled } from './kwok-stages.js';
import { seconds, silent, timed, type Progress } from './progress.js';
import {
  loadPackagingToolchain,
  loadToolchain,
  PACKAGING_TOOLS,
  TOOL_MODULES,
  type BinarySpec,
  type Component,
  type PackagingTool,
  type Toolchain,
} from './toolchain.js';

const run = promisify(execFile);

export interface SetupResult {
  toolchain: Toolchain;
  paths: ToolchainPaths;
  go: string;
  /** Per binary: built now (with the time it took) or found already built. */
  binaries: { name: Component | PackagingTool; built: boolean; ms: number }[];
  /** helm, crane and promtool, in a cache directory of their own (loadPackagingToolchain). */
  packaging: { toolchain: Toolchain; paths: ToolchainPaths };
}

/**
 * Builds the upstream binaries the local box runs into `<cache>/<versions>/bin`, skipping those
 * already there. Each binary is built separately so progress and timings are per binary; the Go
 * build cache shares the packages they have in common, so this costs no more than one build.
 */
export async function setup(opts: { progress?: Progress } = {}): Promise<SetupResult> {
  const progress = opts.progress ?? silent;
  const toolchain = await loadToolchain();
  const paths = toolchainPaths(toolchain);
  const go = await checkGo(toolchain.goVersion);
  progress(`toolchain ${toolchain.key} (${go}) into ${paths.root}`);

  const { missing, binaries } = await findBuilt(toolchain, paths, progress);
  const needStages = !(await stagesInstalled(paths));
  const modules = TOOL_MODULES.filter((m) => missing.some((b) => b.module === m) || (m === 'kwok' && needStages));

  for (const m of modules) {
    progress(`downloading Go modules for ${m} ${toolchain.versions[m]}`);
    const { ms } = await timed(progress, `download ${m}`, () => goRun(['mod', 'download'], join(toolchain.dir, m)));
    progress(`  ${m}: modules ready in ${seconds(ms)}`);
  }
  if (needStages) {
    await installStages(join(toolchain.dir, 'kwok'), paths);
    progress('  kwok stages copied into the cache');
  }

  if (missing.length > 0) progress('building (about 6 minutes on 2 cores with a cold Go build cache, under a minute warm)');
  binaries.push(...(await buildAll(toolchain, paths, missing, progress)));
  progress(`binaries ready in ${paths.bin}`);

  const packaging = await loadPackagingToolchain();
  const packagingPaths = toolchainPaths(packaging);
  const tools = await findBuilt(packaging, packagingPaths, progress);
  binaries.push(...tools.binaries, ...(await buildAll(packaging, packagingPaths, tools.missing, progress)));
  progress(`${PACKAGING_TOOLS.join(', ')} ready in ${packagingPaths.bin}`);
  return { toolchain, paths, go, binaries, packaging: { toolchain: packaging, paths: packagingPaths } };
}

/** The toolchain's binaries already built at the right version, and those still to build. */
async function findBuilt(toolchain: Toolchain, paths: ToolchainPaths, progress: Progress) {
  const missing: BinarySpec[] = [];
  const binaries: SetupResult['binaries'] = [];
  for (const b of toolchain.binaries) {
    if (await binaryWorks(binaryPath(paths, b.name), b)) {
      progress(`  ${b.name}: already built (${b.versionMark})`);
      binaries.push({ name: b.name, built: false, ms: 0 });
    } else {
      missing.push(b);
    }
  }
  return { missing, binaries };
}

async function buildAll(toolchain: Toolchain, paths: ToolchainPaths, missing: BinarySpec[], progress: Progress): Promise<SetupResult['binaries']> {
  await mkdir(paths.bin, { recursive: true });
  const built: SetupResult['binaries'] = [];
  for (const b of missing) {
    progress(`building ${b.name} (${b.pkg})`);
    const { ms } = await timed(progress, `build ${b.name}`, () => build(toolchain, paths, b));
    progress(`  ${b.name}: built in ${seconds(ms)}`);
    built.push({ name: b.name, built: true, ms });
  }
  return built;
}

async function build(toolchain: Toolchain, paths: ToolchainPaths, b: BinarySpec): Promise<void> {
  const target = binaryPath(paths, b.name);
  // Built under a temporary name and renamed, so an interrupted build never leaves a binary
  // that looks complete. The name is this process's: two setups at once (both engines' setups
  // share the toolchain) each rename a whole binary of the same version.
  const tmp = `${target}.partial-${process.pid}`;
  await rm(tmp, { force: true });
  await goRun(['build', '-trimpath', '-ldflags', b.ldflags, '-o', tmp, b.pkg], join(toolchain.dir, b.module));
  if (!(await binaryWorks(tmp, b))) {
    throw failure(
      'local.build-broken',
      `${b.name} was built but \`${b.name} --version\` does not report ${b.versionMark}`,
      `remove ${paths.bin} and run \`edgebox local setup\` again`,
    );
  }
  await rename(tmp, target);
}

/** Exists, runs, and is the version we want: cheap (`--version` exits at once). */
async function binaryWorks(file: string, b: BinarySpec): Promise<boolean> {
  try {
    await access(file);
    const { stdout, stderr } = await run(file, b.versionArgs ?? ['--version'], { timeout: 15_000 });
    return `${stdout}${stderr}`.includes(b.versionMark);
  } catch {
    return false;
  }
}
