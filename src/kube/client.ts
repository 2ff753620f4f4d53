import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from './kubeconfig.js';

export function coreApi(file: string): CoreV1Api {
  return loadKubeConfig({ path: file }).makeApiClient(CoreV1Api);
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiException && e.code === 404;
}

/** The Ready condition's status: 'True', 'False', 'Unknown', or 'Unknown' when absent (a new node). */
export function readyStatus(node: { status?: { conditions?: { type: string; status: string }[] } }): string {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
}
