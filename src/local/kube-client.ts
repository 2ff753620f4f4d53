import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export function kubeConfigFrom(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

export function coreApi(file: string): CoreV1Api {
  return kubeConfigFrom(file).makeApiClient(CoreV1Api);
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiException && e.code === 404;
}

/** The Ready condition's status: 'True', 'False', 'Unknown', or 'Unknown' when absent (a new node). */
export function readyStatus(node: { status?: { conditions?: { type: string; status: string }[] } }): string {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
}
