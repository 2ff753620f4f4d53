import type { BoxState } from '../local/box-state.js';
import type { EtcdSample } from './history.js';

/**
 * One sampling round of the box's etcd members, straight to each module's client port (etcd's
 * JSON gateway), not through the API: what cluster each live member is in, and whether it has a
 * leader. A member the runner cannot reach (isolated, frozen, dead) is simply absent.
 */

const TIMEOUT_MS = 700;

async function post(url: string): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await fetch(url, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    return res.ok ? ((await res.json()) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const hex = (v: unknown): string | undefined => (typeof v === 'string' && /^\d+$/.test(v) && v !== '0' ? BigInt(v).toString(16) : undefined);

const endpoint = (state: BoxState, module: string) => `http://${state.addresses[module]}:${state.ports.server.etcdClient}`;

export async function sampleEtcd(state: BoxState): Promise<EtcdSample[]> {
  const answers = await Promise.all(
    Object.keys(state.addresses).map(async (module): Promise<EtcdSample | undefined> => {
      const s = await post(`${endpoint(state, module)}/v3/maintenance/status`);
      const header = s?.header as Record<string, unknown> | undefined;
      const clusterId = hex(header?.cluster_id);
      const memberId = hex(header?.member_id);
      if (!clusterId || !memberId) return undefined;
      const leaderId = hex(s?.leader);
      return { module, clusterId, memberId, ...(leaderId ? { leaderId } : {}) };
    }),
  );
  return answers.filter((a): a is EtcdSample => a !== undefined);
}

/** The voting members' names, as a member with a leader lists them; undefined when none answers. */
export async function voters(state: BoxState, round: readonly EtcdSample[]): Promise<string[] | undefined> {
  const led = round.find((m) => m.leaderId);
  if (!led) return undefined;
  const list = await post(`${endpoint(state, led.module)}/v3/cluster/member/list`);
  const members = (list?.members ?? []) as { name?: string; isLearner?: boolean }[];
  return list ? members.filter((m) => !m.isLearner).map((m) => m.name ?? '') : undefined;
}
