import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failure } from '../diagnostics/diagnostic.js';
import type { ToolchainPaths } from './cache.js';
import { goRun } from './go.js';
import { VOLUMES_ATTACHED, VOLUMES_ATTACHED_ANNOTATION } from './storage-plan.js';

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

/**
 * How long a pod takes from bound to Ready: a container start on an SoC module (image layers
 * already there, a runtime and a process to start) takes one to three seconds, where KWOK's own
 * stage takes none. Every local box, and so every bench, plays it, so failover figures include a
 * realistic start rather than flatter it.
 */
export interface PodStart {
  minMs: number;
  maxMs: number;
}

export const DEFAULT_POD_START: PodStart = { minMs: 1000, maxMs: 3000 };

/** The KWOK config of a box: the stages copied from the kwok module, the pod start delay set, the volume gate, then ours. */
export async function boxStages(paths: ToolchainPaths, podStart: PodStart = DEFAULT_POD_START): Promise<string> {
  return `${withVolumeGate(withPodStart((await readFile(stagesFile(paths), 'utf8')).trimEnd(), podStart))}\n---\n${EDGEBOX_STAGES}`;
}

/** What selects a pod that claims a volume (KWOK's query: an error or no value is "does not exist"). */
const CLAIMS_QUERY = `'.spec.volumes.[] | select( .persistentVolumeClaim != null ) | .name'`;

/**
 * A kubelet mounts a claimed volume only once the attach-detach controller has attached it to
 * its node, so a pod with a claim must not be Ready before (simulated-storage.ts marks it). KWOK's
 * \`pod-ready\` keeps the pods without claims; a copy of it, \`edgebox-pod-ready-with-volumes\`,
 * takes the others once they carry the mark. Pure.
 */
export function withVolumeGate(stages: string): string {
  const docs = stages.split('\n---\n');
  const i = docs.findIndex((d) => /^ {2}name: pod-ready$/m.test(d));
  const anchor = '\n  selector:\n    matchExpressions:\n';
  if (i < 0 || !docs[i]!.includes(anchor)) {
    throw failure(
      'local.kwok-stage-changed',
      'the KWOK stage pod-ready is not in the shape the volume gate is written into',
      'the kwok version in local/toolchain/kwok/go.mod changed its stages; update withVolumeGate in src/local/kwok-stages.ts',
    );
  }
  const ready = docs[i]!;
  const claims = (op: string) => `    - key: ${CLAIMS_QUERY}\n      operator: '${op}'\n`;
  docs[i] = ready.replace(anchor, `${anchor}${claims('DoesNotExist')}`);
  const gated = ready
    .replace(/^ {2}name: pod-ready$/m, '  name: edgebox-pod-ready-with-volumes')
    .replace(
      anchor,
      `\n  selector:\n    matchAnnotations:\n      ${VOLUMES_ATTACHED_ANNOTATION}: ${VOLUMES_ATTACHED}\n    matchExpressions:\n${claims('Exists')}`,
    );
  docs.splice(i + 1, 0, `# edgebox: pod-ready for pods whose volumes are attached (src/local/kwok-stages.ts)\n${gated.replace(/^# from .*\n/, '')}`);
  return docs.join('\n---\n');
}

/**
 * The stages with KWOK's `pod-ready` delayed by a time drawn uniformly from [min, max] (KWOK's
 * `jitterDurationMilliseconds` is the upper end of the draw). Pure.
 */
export function withPodStart(stages: string, podStart: PodStart): string {
  if (podStart.maxMs <= 0) return stages;
  const docs = stages.split('\n---\n');
  const i = docs.findIndex((d) => /^ {2}name: pod-ready$/m.test(d));
  if (i < 0 || !docs[i]!.includes('\n  next:\n') || docs[i]!.includes('\n  delay:\n')) {
    throw failure(
      'local.kwok-stage-changed',
      'the KWOK stage pod-ready is not in the shape the pod start delay is written into',
      'the kwok version in local/toolchain/kwok/go.mod changed its stages; update withPodStart in src/local/kwok-stages.ts',
    );
  }
  const delay = `\n  delay:\n    durationMilliseconds: ${podStart.minMs}\n    jitterDurationMilliseconds: ${podStart.maxMs}\n  next:\n`;
  docs[i] = docs[i]!.replace('\n  next:\n', delay);
  return docs.join('\n---\n');
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
