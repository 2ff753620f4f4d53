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

/** A node or pod, typed from a list or raw JSON from a watch: only its conditions matter here. */
interface WithConditions {
  status?: { conditions?: readonly { type: string; status: string }[] };
}

/** The Ready condition's status: 'True', 'False', 'Unknown', or 'Unknown' when absent (a new node). */
export function readyStatus(o: WithConditions): string {
  return o.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
}

/** Whether a node or pod is Ready. */
export function isReady(o: WithConditions): boolean {
  return readyStatus(o) === 'True';
}
