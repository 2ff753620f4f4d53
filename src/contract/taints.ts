import { PREFIX } from './labels.js';

/** The taints edgebox puts on a module's Node, and the shape every area reads them in. */

export interface Taint {
  key: string;
  value: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** The taint of Kubernetes' non-graceful node shutdown: pods are deleted and volumes detached at once. */
export const OUT_OF_SERVICE_TAINT: Taint = { key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' };

/**
 * Put on with the out-of-service taint and removed with it. Singleton pods tolerate the
 * out-of-service taint (the controller releases them itself, after the module's self-fence
 * bound), and a toleration also lets the scheduler place a pod: without this taint their
 * replacement would land on the fenced module again.
 */
export const FENCED_TAINT: Taint = { key: `${PREFIX}/fenced`, value: 'true', effect: 'NoSchedule' };

/** The taints of a fenced module. */
export const FENCE_TAINTS: readonly Taint[] = [OUT_OF_SERVICE_TAINT, FENCED_TAINT];

export function hasTaint(taints: readonly Taint[], t: Taint): boolean {
  return taints.some((x) => x.key === t.key && x.effect === t.effect);
}
