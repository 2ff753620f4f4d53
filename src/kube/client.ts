import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from './kubeconfig.js';

export function coreApi(file: string): CoreV1Api {
  return loadKubeConfig({ path: file }).makeApiClient(CoreV1Api);
}

/** The HTTP status of a failed API request, or undefined when the request never got an answer. */
export function apiStatus(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

export function isNotFound(e: unknown): boolean {
  return apiStatus(e) === 404;
}

/** The Ready condition's status: 'True', 'False', 'Unknown', or 'Unknown' when absent (a new node). */
export function readyStatus(node: { status?: { conditions?: { type: string; status: string }[] } }): string {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
}
