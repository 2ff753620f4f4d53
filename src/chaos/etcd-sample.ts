import type { EtcdGateway } from '../agent/role/etcd-gateway.js';
import { nodeOfMember } from '../agent/role/k3s-plan.js';
import type { BoxState } from '../local/box-state.js';
import { memberGateway, memberModules } from '../local/member-gateway.js';
import type { EtcdSample } from './history.js';

/**
 * One sampling round of the box's etcd members, straight to each module's client port (etcd's
 * JSON gateway), not through the API: what cluster each live member is in, and whether it has a
 * leader. A member the runner cannot reach (isolated, frozen, dead) is simply absent. On the K3s
 * engine each server-capable module's K3s serves the gateway at its address (the box's forwarder)
 * behind the module's etcd client certificate; on the process engine, etcd at the module's
 * loopback address.
 */

const TIMEOUT_MS = 700;

/** One gateway per member, kept: the recorder samples every second. */
const gateways = new Map<string, EtcdGateway | undefined>();

function gatewayOf(state: BoxState, module: string): EtcdGateway | undefined {
  const key = `${state.dir}|${module}`;
  if (!gateways.has(key)) gateways.set(key, memberGateway(state, module, TIMEOUT_MS));
  return gateways.get(key);
}

export async function sampleEtcd(state: BoxState): Promise<EtcdSample[]> {
  const answers = await Promise.all(
    memberModules(state).map(async (module): Promise<EtcdSample | undefined> => {
      const s = await gatewayOf(state, module)
        ?.status()
        .catch(() => undefined);
      if (!s?.clusterId || !s.memberId || s.clusterId === '0' || s.memberId === '0') return undefined;
      return { module, clusterId: s.clusterId, memberId: s.memberId, ...(s.leaderId ? { leaderId: s.leaderId } : {}) };
    }),
  );
  return answers.filter((a): a is EtcdSample => a !== undefined);
}

/** The voting members' names, as a member with a leader lists them; undefined when none answers. */
export async function voters(state: BoxState, round: readonly EtcdSample[]): Promise<string[] | undefined> {
  const led = round.find((m) => m.leaderId);
  if (!led) return undefined;
  const members = await gatewayOf(state, led.module)
    ?.memberList()
    .catch(() => undefined);
  // The process engine names a member after its module.
  return members?.filter((m) => !m.learner).map((m) => (state.k3s ? nodeOfMember(m.name) : m.name));
}
