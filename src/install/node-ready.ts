import type { V1Node } from '@kubernetes/client-node';

/**
 * Whether a module's Node is back after its K3s was restarted on a new binary: Ready, as posted by
 * a kubelet of the new `version`. The version rules out the Ready the old kubelet posted before
 * it stopped, which the Node still carries for up to a grace period. Pure: true, or what is missing.
 */
export function nodeReadyOn(node: V1Node, version: string): true | string {
  const kubelet = node.status?.nodeInfo?.kubeletVersion;
  if (kubelet !== version) return `its kubelet is ${kubelet ?? 'unknown'}, not ${version} yet`;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return `not Ready (${ready?.reason ?? ready?.status ?? 'no Ready condition'})`;
  return true;
}
