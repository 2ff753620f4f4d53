import type { CoreV1Api } from '@kubernetes/client-node';
import { agentServiceAccount } from '../contract/identity.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { failure } from '../diagnostics/diagnostic.js';

/**
 * A ServiceAccount's token, minted by the TokenRequest API: what the local box and `edgebox
 * install` put in each agent's kubeconfig (its own identity, docs/decisions/0005), and install in
 * kube-vip's.
 */
export async function mintToken(core: CoreV1Api, account: { namespace: string; name: string }, expirationSeconds: number, hint: string): Promise<string> {
  const minted = await core.createNamespacedServiceAccountToken({ ...account, body: { spec: { audiences: [], expirationSeconds } } });
  const token = minted.status?.token;
  if (!token) throw failure('kube.no-token', `the API server minted no token for ServiceAccount ${account.namespace}/${account.name}`, hint);
  return token;
}

/** A module's agent identity. */
export function mintAgentToken(core: CoreV1Api, module: string, expirationSeconds: number, hint: string): Promise<string> {
  return mintToken(core, { namespace: SYSTEM_NAMESPACE, name: agentServiceAccount(module) }, expirationSeconds, hint);
}
