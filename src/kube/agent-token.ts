import type { CoreV1Api } from '@kubernetes/client-node';
import { agentServiceAccount } from '../contract/identity.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { failure } from '../diagnostics/diagnostic.js';

/**
 * A token for a module's agent identity (its ServiceAccount, docs/decisions/0005), minted by the
 * TokenRequest API: what the local box and `edgebox install` put in each agent's kubeconfig.
 */
export async function mintAgentToken(core: CoreV1Api, module: string, expirationSeconds: number, hint: string): Promise<string> {
  const name = agentServiceAccount(module);
  const minted = await core.createNamespacedServiceAccountToken({
    name,
    namespace: SYSTEM_NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = minted.status?.token;
  if (!token) throw failure('kube.no-agent-token', `the API server minted no token for ServiceAccount ${SYSTEM_NAMESPACE}/${name}`, hint);
  return token;
}
