import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failure } from '../diagnostics/diagnostic.js';
import type { ToolchainPaths } from './cache.js';
import { goRun } from './go.js';

/**
 * The KWOK stages the local box plays, taken from the kwok module we build (so they always match
 * its version) and copied into the cache at setup, so a box never depends on the Go module cache
 * (which `go clean -modcache` empties). KWOK refuses to start without stages.
 *  - node-initialize: a new (or revived) node gets its conditions and status; keeps the
 *    capacity, addresses and architecture we give it.
 *  - node-heartbeat-with-lease: Ready nodes are kept Ready by renewing their Lease, as a kubelet does.
 *  - pod-ready / pod-complete / pod-delete: pods bound to a played node run, Jobs complete, and
 *    deleted pods go away. A node KWOK no longer plays gets none of this: its pods stay Terminating.
 * The chaos stage (node-not-ready) is left out: `local kill` stops the heartbeat instead.
 */
const STAGE_FILES = [
  'node/fast/node-initialize.yaml',
  'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'pod/fast/pod-ready.yaml',
  'pod/fast/pod-complete.yaml',
  'pod/fast/pod-delete.yaml',
] as const;

const STAGES_FILE = 'stages.yaml';

export function stagesFile(paths: ToolchainPaths): string {
  return join(paths.stages, STAGES_FILE);
}

export async function stagesInstalled(paths: ToolchainPaths): Promise<boolean> {
  return access(stagesFile(paths)).then(() => true, () => false);
}

/** Copies the stages out of the kwok module (already downloaded by setup) into one multi-document file. */
export async function installStages(kwokToolModule: string, paths: ToolchainPaths): Promise<void> {
  const moduleDir = (await goRun(['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/kwok'], kwokToolModule)).trim();
  const docs: string[] = [];
  for (const f of STAGE_FILES) {
    const file = join(moduleDir, 'kustomize', 'stage', f);
    try {
      docs.push(`# from sigs.k8s.io/kwok kustomize/stage/${f}\n${(await readFile(file, 'utf8')).trim()}\n`);
    } catch {
      throw failure('local.kwok-stage-missing', `KWOK stage ${file} is missing`,
        'the kwok version in local/toolchain/kwok/go.mod no longer ships this stage; update STAGE_FILES in src/local/kwok-stages.ts');
    }
  }
  await mkdir(paths.stages, { recursive: true });
  const tmp = `${stagesFile(paths)}.tmp`;
  await writeFile(tmp, docs.join('---\n'));
  await rename(tmp, stagesFile(paths));
}
