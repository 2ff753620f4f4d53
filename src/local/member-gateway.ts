import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { etcdGateway, type EtcdGateway, type EtcdMembership, type EtcdTls } from '../agent/role/etcd-gateway.js';
import { K3S_ETCD_PORT } from '../agent/role/k3s-plan.js';
import type { BoxState } from './box-state.js';
import { k3sPaths } from './engine/k3s-engine.js';

/**
 * A local box module's etcd member, reached from this machine the way its engine serves it:
 * K3s's gateway at the module's address (the forwarder beside each K3s server) behind the
 * module's etcd client certificate, or the process engine's etcd at the module's loopback address.
 * One place for both, used by the agents' local K3s host, the benches and the chaos recorder.
 */

/** The certificate and CA K3s's own etcd client uses: made when the module first serves, so read when needed. */
export async function k3sEtcdTls(dir: string, module: string): Promise<EtcdTls> {
  const tlsDir = join(k3sPaths(dir, module).dataDir, 'server', 'tls', 'etcd');
  const [ca, cert, key] = await Promise.all(['server-ca.crt', 'client.crt', 'client.key'].map((f) => readFile(join(tlsDir, f))));
  return { ca: ca!, cert: cert!, key: key! };
}

/** Where `module`'s member answers; undefined for a module that can hold none (not server-capable, on K3s). */
export function memberEndpoint(state: BoxState, module: string): string | undefined {
  if (!state.k3s) return state.addresses[module] ? `http://${state.addresses[module]}:${state.ports.server.etcdClient}` : undefined;
  const member = state.k3s.network.members[module];
  return member ? `https://${member.address}:${K3S_ETCD_PORT}` : undefined;
}

export function memberGateway(state: BoxState, module: string, timeoutMs?: number): (EtcdGateway & EtcdMembership) | undefined {
  const endpoint = memberEndpoint(state, module);
  if (!endpoint) return undefined;
  return etcdGateway({
    endpoint,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(state.k3s ? { tls: () => k3sEtcdTls(state.dir, module) } : {}),
  });
}

/** The modules that may answer as members: the server-capable ones on K3s, every module on the process engine. */
export function memberModules(state: BoxState): string[] {
  return Object.keys(state.k3s?.network.members ?? state.addresses);
}
