import { ApiException, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { withTimeout } from '../base/timeout.js';
import { isNotFound } from '../kube/client.js';

/**
 * `kubectl drain` as upgrade needs it: cordon the module's Node, evict its pods through the
 * Eviction API (so PodDisruptionBudgets hold: an eviction they refuse, 429, is retried), wait until
 * they are gone. A module whose Node does not exist (a control-plane-only server) has nothing to
 * drain.
 */

/** What a drain evicts: not a DaemonSet's pods (they would come back at once), not static pods, not finished ones. Pure. */
export function podsToEvict(pods: readonly V1Pod[]): V1Pod[] {
  return pods.filter(
    (p) =>
      !p.metadata?.ownerReferences?.some((o) => o.kind === 'DaemonSet') &&
      p.metadata?.annotations?.['kubernetes.io/config.mirror'] === undefined &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed',
  );
}

async function setUnschedulable(core: CoreV1Api, node: string, unschedulable: boolean): Promise<boolean> {
  try {
    await core.patchNode({ name: node, body: { spec: { unschedulable } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

export async function uncordon(kc: KubeConfig, node: string): Promise<void> {
  await setUnschedulable(kc.makeApiClient(CoreV1Api), node, false);
}

export async function drain(
  kc: KubeConfig,
  node: string,
  o: { timeoutMs: number; requestTimeoutMs: number; progress(line: string): void },
): Promise<'drained' | 'no-node'> {
  const core = kc.makeApiClient(CoreV1Api);
  // Each request bounded: an API server without a quorum hangs rather than fails.
  const bounded = <T>(p: Promise<T>, what: string) => withTimeout(p, o.requestTimeoutMs, `drain ${node}: ${what}`);
  if (!(await bounded(setUnschedulable(core, node, true), 'cordon'))) return 'no-node';
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const left = podsToEvict((await bounded(core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` }), 'list its pods')).items);
    if (left.length === 0) return 'drained';
    if (Date.now() > deadline)
      throw new Error(`${left.length} pods still on ${node} after ${o.timeoutMs / 1000} s: ${left.map((p) => p.metadata?.name).join(', ')}`);
    for (const p of left) {
      const name = p.metadata?.name ?? '';
      const namespace = p.metadata?.namespace ?? 'default';
      try {
        await bounded(core.createNamespacedPodEviction({ name, namespace, body: { metadata: { name, namespace } } }), `evict ${namespace}/${name}`);
      } catch (e) {
        // 429: a PodDisruptionBudget allows no eviction now; 404: already gone. Retried next round.
        if (!(e instanceof ApiException && (e.code === 429 || e.code === 404))) throw e;
        if (e.code === 429) o.progress(`  ${node}: ${namespace}/${name} waits for its PodDisruptionBudget`);
      }
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
