import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { peripheralLeaseName } from '../contract/peripherals.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';

export interface OwnershipEvent {
  at: string;
  reason: string;
  message: string;
  by?: string;
}

/** The controller's Events on a peripheral's ownership Lease (assignments with their tokens, release requests), oldest first. */
export async function ownershipEvents(kc: KubeConfig, peripheral: string): Promise<OwnershipEvent[]> {
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({
    namespace: SYSTEM_NAMESPACE,
    fieldSelector: `involvedObject.kind=Lease,involvedObject.name=${peripheralLeaseName(peripheral)}`,
  });
  return list.items
    .map((e) => ({
      at: new Date((e.lastTimestamp ?? e.firstTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0) as unknown as string).toISOString(),
      reason: e.reason ?? '',
      message: e.message ?? '',
      ...(e.reportingInstance ? { by: e.reportingInstance } : {}),
    }))
    .sort((a, b) => a.at.localeCompare(b.at));
}
