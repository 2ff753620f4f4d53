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
 * One stage of our own follows them (EDGEBOX_STAGES).
 */
const STAGE_FILES = [
  'node/fast/node-initialize.yaml',
  'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'pod/fast/pod-ready.yaml',
  'pod/fast/pod-complete.yaml',
  'pod/fast/pod-delete.yaml',
] as const;

const STAGES_FILE = 'stages.yaml';

/**
 * What a live kubelet does and KWOK's stages do not: when the node lifecycle controller marked a
 * running pod NotReady (its node's Lease was late, e.g. KWOK fell behind on a loaded machine), the
 * kubelet's status manager reports it Ready again on its next sync. KWOK's pod-ready only acts on
 * Pending pods, so without this a pod on a module that never failed stayed NotReady for good.
 * Only pods of nodes KWOK still plays match: a killed module's pods stay as they are.
 */
const EDGEBOX_STAGES = `# edgebox: a live kubelet reports a running pod Ready again (src/local/kwok-stages.ts)
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: edgebox-pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  delay:
    durationMilliseconds: 1000
  next:
    statusTemplate: |
      {{ $now := Now }}

      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
`;

/** The KWOK config of a box: the stages copied from the kwok module, then ours. */
export async function boxStages(paths: ToolchainPaths): Promise<string> {
  return `${(await readFile(stagesFile(paths), 'utf8')).trimEnd()}\n---\n${EDGEBOX_STAGES}`;
}

export function stagesFile(paths: ToolchainPaths): string {
  return join(paths.stages, STAGES_FILE);
}

export async function stagesInstalled(paths: ToolchainPaths): Promise<boolean> {
  return access(stagesFile(paths)).then(
    () => true,
    () => false,
  );
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
      throw failure(
        'local.kwok-stage-missing',
        `KWOK stage ${file} is missing`,
        'the kwok version in local/toolchain/kwok/go.mod no longer ships this stage; update STAGE_FILES in src/local/kwok-stages.ts',
      );
    }
  }
  await mkdir(paths.stages, { recursive: true });
  const tmp = `${stagesFile(paths)}.tmp`;
  await writeFile(tmp, docs.join('---\n'));
  await rename(tmp, stagesFile(paths));
}
