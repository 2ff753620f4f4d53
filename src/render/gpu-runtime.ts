import { capabilityLabel } from '../contract/labels.js';
import type { BoxSpec, WorkloadSpec } from '../spec/schema.js';
import { boxLabels, type KubeObject } from './kube-object.js';

/** The capability of a module whose GPU runs CUDA (the Jetsons in the catalog). */
export const CUDA_CAPABILITY = 'gpu.cuda';

/**
 * The RuntimeClass, and containerd handler, of the NVIDIA container runtime: the name K3s gives
 * the runtime it registers when it finds `nvidia-container-runtime` on a module at start. Without
 * it a CUDA container runs under plain runc and sees no GPU libraries on a Jetson.
 */
export const NVIDIA_RUNTIME_CLASS = 'nvidia';

/** Whether a workload's pods run with the NVIDIA runtime: it asks for CUDA. */
export function usesNvidiaRuntime(w: WorkloadSpec): boolean {
  return w.requires.capabilities.includes(CUDA_CAPABILITY);
}

/**
 * The `nvidia` RuntimeClass, when a workload uses it (node.k8s.io/v1). Its scheduling selector
 * keeps pods that name it on CUDA modules, the only ones whose K3s has the handler. Recent K3s
 * releases create a RuntimeClass of the same name and handler themselves (k3s#8700); a
 * server-side apply of equal values does not conflict with it.
 */
export function renderRuntimeClasses(box: BoxSpec): KubeObject[] {
  if (!box.spec.workloads.some(usesNvidiaRuntime)) return [];
  return [
    {
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name: NVIDIA_RUNTIME_CLASS, labels: boxLabels(box) },
      handler: NVIDIA_RUNTIME_CLASS,
      scheduling: { nodeSelector: { [capabilityLabel(CUDA_CAPABILITY)]: 'true' } },
    },
  ];
}
