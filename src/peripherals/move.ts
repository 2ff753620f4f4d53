import { CoordinationV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { apiStatus } from '../kube/client.js';
import { toPeripheralLease, type PeripheralLease } from './lease.js';
import { PERIPHERAL_ANNOTATIONS, peripheralLeaseName } from '../contract/peripherals.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';

/**
 * `edgebox peripheral move`: the intent goes on the ownership Lease (`edgebox.dev/move-to`);
 * the controller carries it out (the holder releases first, then the module asked for gets the
 * next token), so a move asked for while no controller leads happens when one does.
 */

export async function readPeripheralLease(kc: KubeConfig, peripheral: string): Promise<{ lease: PeripheralLease; attachedTo: string[] }> {
  const api = kc.makeApiClient(CoordinationV1Api);
  try {
    const raw = await api.readNamespacedLease({ name: peripheralLeaseName(peripheral), namespace: SYSTEM_NAMESPACE });
    const attached = raw.metadata?.annotations?.[PERIPHERAL_ANNOTATIONS.attachedTo] ?? '';
    return { lease: toPeripheralLease(raw)!, attachedTo: attached ? attached.split(',') : [] };
  } catch (e) {
    if (apiStatus(e) === 404) {
      throw inputError(
        'peripheral.unknown',
        `no ownership Lease ${SYSTEM_NAMESPACE}/${peripheralLeaseName(peripheral)}: '${peripheral}' is no exclusive peripheral of a box with a running controller`,
        'check the name (spec.peripherals with exclusive: true) and that `edgebox controller` runs',
      );
    }
    throw e;
  }
}

export async function requestMove(kc: KubeConfig, peripheral: string, module: string): Promise<PeripheralLease> {
  const { lease, attachedTo } = await readPeripheralLease(kc, peripheral);
  if (!attachedTo.includes(module)) {
    throw inputError(
      'peripheral.not-attached',
      `${peripheral} is not attached to '${module}'`,
      didYouMean(module, attachedTo) ?? `it is attached to ${attachedTo.join(', ')}`,
    );
  }
  if (lease.holder === module) return lease;
  try {
    await kc.makeApiClient(CoordinationV1Api).patchNamespacedLease(
      {
        name: peripheralLeaseName(peripheral),
        namespace: SYSTEM_NAMESPACE,
        body: { metadata: { annotations: { [PERIPHERAL_ANNOTATIONS.moveTo]: module } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (e) {
    throw failure(
      'peripheral.move-failed',
      `could not ask for the move of ${peripheral}: ${(e as Error).message}`,
      "the kubeconfig's user needs patch on leases in edgebox-system",
    );
  }
  return lease;
}
