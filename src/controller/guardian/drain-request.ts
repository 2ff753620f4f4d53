import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { failure } from '../../diagnostics/diagnostic.js';
import { EventRecorder } from '../events.js';
import { CONTROL_PLANE_ANNOTATIONS as A } from '../../contract/control-plane.js';
import { planControlPlane } from './plan.js';
import { isMember } from './view.js';
import type { GuardianObserved } from './view.js';
import { apiStatus } from '../../kube/client.js';
import { describeRequestError } from '../../kube/request-errors.js';

/**
 * The writes of `edgebox drain`: the request (the `edgebox.dev/drain` annotation, read by the
 * guardian, and the cordon), its undoing, and the DrainRefused Event. Each is a merge patch with
 * the resourceVersion the decision was made on.
 */

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function nodeOf(o: GuardianObserved, module: string) {
  const mv = planControlPlane(o).view.modules.find((m) => m.module === module);
  if (!mv?.node)
    throw failure('drain.no-node', `module ${module} has no Node in the cluster`, 'is its agent or kubelet running? `edgebox status` lists the modules');
  return mv.node;
}

async function patch(
  kc: KubeConfig,
  node: { name: string; resourceVersion: string },
  annotations: Record<string, string | null>,
  unschedulable: boolean,
): Promise<void> {
  try {
    await kc
      .makeApiClient(CoreV1Api)
      .patchNode({ name: node.name, body: { metadata: { resourceVersion: node.resourceVersion, annotations }, spec: { unschedulable } } }, merge);
  } catch (e) {
    if (apiStatus(e) === 409)
      throw failure('drain.conflict', `node ${node.name} changed while drain was deciding`, 'run drain again: it decides on the new state');
    throw describeRequestError(e, { server: kc.getCurrentCluster()?.server ?? '?', verb: 'patch', resource: 'nodes', target: node.name }) ?? e;
  }
}

export async function requestDrain(kc: KubeConfig, o: GuardianObserved, module: string): Promise<void> {
  const node = nodeOf(o, module);
  await patch(kc, node, { [A.drain]: node.annotations[A.drain] ?? new Date(o.now).toISOString() }, true);
}

export async function undoDrain(kc: KubeConfig, o: GuardianObserved, module: string, dryRun: boolean): Promise<{ module: string; dryRun: boolean }> {
  const node = nodeOf(o, module);
  if (!dryRun) await patch(kc, node, { [A.drain]: null }, false);
  return { module, dryRun };
}

export async function recordRefusal(kc: KubeConfig, o: GuardianObserved, module: string, reason: string): Promise<void> {
  const node = planControlPlane(o).view.modules.find((m) => m.module === module)?.node;
  if (!node) return;
  // Best effort, like every Event: the refusal itself is the command's exit code.
  await new EventRecorder(kc, { id: 'edgebox-drain', log: () => {}, now: () => o.now }).node(
    node.name,
    'Warning',
    'DrainRefused',
    `drain of ${module} refused: ${reason}`,
  );
}

/** Done: the module is no etcd member and the box has its voters, all healthy, with no change pending. */
export function drainDone(o: GuardianObserved, module: string): { done: boolean; voters: { module: string; healthy: boolean }[]; message?: string } {
  const plan = planControlPlane(o);
  const { view } = plan;
  const voters = view.voters.map((v) => ({ module: v.module, healthy: v.healthy }));
  const done =
    view.members !== undefined &&
    !isMember(view, module) &&
    !view.listedBy[module]?.length &&
    view.healthyVoters >= Math.min(plan.servers, view.voters.length) &&
    view.voters.every((v) => v.healthy) &&
    plan.pending === null;
  return { done, voters, ...(plan.message ? { message: plan.message } : {}) };
}
