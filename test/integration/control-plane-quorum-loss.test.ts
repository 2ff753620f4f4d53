import { join } from 'node:path';
import { AppsV1Api, CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QuorumStatus } from '../../src/agent/quorum/recovery-loop.js';
import { etcdGateway } from '../../src/agent/role/etcd-gateway.js';
import { applyBox } from '../../src/apply/apply.js';
import { Cluster } from '../../src/apply/cluster.js';
import { readState, type BoxState } from '../../src/local/box-state.js';
import { killModule, reviveModule } from '../../src/local/failure-injection.js';
import { loadSpec } from '../../src/spec/load.js';
import { ROOT } from './apply-helpers.js';
import { memberRevisions } from './etcd-helpers.js';
import { eventually, startBox, type Box } from './harness.js';
import { SYSTEM_NAMESPACE, agentLeaseName } from '../../src/contract/leases.js';
import { QUORUM_RECOVERY_ANNOTATION } from '../../src/contract/control-plane.js';

/**
 * Quorum loss on a real 3-voter control plane (a local box: each server module's agent runs its
 * etcd member and API server, process role driver), with agents and a controller: two of the
 * three servers die at once, so etcd has no leader and the API is gone. The agents must recover
 * it by themselves (src/agent/quorum), and the guardian then brings the box back to 3 voters.
 */

const NS = 'default';
const DATA = { written: 'before the loss', n: '42' };

interface Agent {
  module: string;
  base: string;
}

async function health(a: Agent): Promise<{ quorumRecovery?: QuorumStatus | null }> {
  return (await (await fetch(`${a.base}/healthz`, { signal: AbortSignal.timeout(2000) })).json()) as { quorumRecovery?: QuorumStatus | null };
}

/** The voting members as the member of `module` lists them, each with whether it follows a leader. */
async function voters(state: BoxState, module: string): Promise<{ names: string[]; leader: boolean }> {
  const g = etcdGateway({ endpoint: `http://${state.addresses[module]}:${state.ports.server.etcdClient}`, timeoutMs: 2000 });
  const [members, status] = await Promise.all([g.memberList(), g.status()]);
  return {
    names: members
      .filter((m) => !m.learner)
      .map((m) => m.name)
      .sort(),
    leader: status.leaderId !== undefined,
  };
}

/** The servers now: the members the first answering live server lists. */
async function currentVoters(state: BoxState, alive: string[]): Promise<string[]> {
  for (const m of alive) {
    const v = await voters(state, m).catch(() => undefined);
    if (v?.leader) return v.names;
  }
  throw new Error('no server answers with a leader');
}

/** Every listed voter answers and follows a leader: N healthy voters. */
async function healthyVoters(state: BoxState, alive: string[]): Promise<string[]> {
  const names = await currentVoters(state, alive);
  for (const n of names) expect((await voters(state, n)).leader, `${n} follows a leader`).toBe(true);
  return names;
}

/** Waits for the box's 3 voters to be healthy, before anything is killed. */
async function threeHealthyVoters(state: BoxState, modules: string[]): Promise<string[]> {
  return eventually(
    async () => {
      const v = await healthyVoters(state, modules);
      expect(v).toHaveLength(3);
      return v;
    },
    { timeoutMs: 120_000, message: '3 healthy voters before the loss' },
  );
}

async function seed(box: Box, spec: string): Promise<void> {
  const { box: parsed } = await loadSpec(spec);
  await applyBox({ box: parsed, cluster: new Cluster(box.kc) });
  const core = box.kc.makeApiClient(CoreV1Api);
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'precious' }, data: DATA } });
}

async function stillThere(box: Box, namespace: string): Promise<void> {
  const core = box.kc.makeApiClient(CoreV1Api);
  expect((await core.readNamespacedConfigMap({ name: 'precious', namespace: NS })).data).toEqual(DATA);
  const d = await box.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'keeper', namespace });
  expect(d.spec?.replicas).toBe(2);
}

async function agentsOf(box: Box): Promise<Agent[]> {
  const state = await readState(box.dir);
  return (state?.agents ?? []).map((a) => ({ module: a.module, base: `http://${a.address}:${a.httpPort}` }));
}

describe('quorum loss with power drivers: the agents fence, reset and the guardian restores 3 voters', () => {
  const spec = join(ROOT, 'test/fixtures/quorum-loss-box.yaml');
  let box: Box;
  let state: BoxState;
  let victims: string[] = [];
  let after: string[] = [];

  beforeAll(async () => {
    box = await startBox(spec, { withAgents: true, withController: true, timings: 'tuned' });
    state = (await readState(box.dir))!;
    await seed(box, spec);
  });
  afterAll(() => box?.stop());

  it('recovers from losing 2 of 3 servers by itself, and keeps the data written before', async () => {
    const modules = Object.keys(state.addresses);
    const before = await threeHealthyVoters(state, modules);
    await eventually(
      async () => {
        const d = await box.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'keeper', namespace: 'quorum-cell' });
        expect(d.status?.readyReplicas).toBe(2);
      },
      { timeoutMs: 120_000, message: 'keeper has 2 ready replicas' },
    );

    victims = before.slice(1);
    const survivor = before[0]!;
    const t0 = Date.now();
    await Promise.all(victims.map((m) => killModule(box.dir, m)));

    const core = box.kc.makeApiClient(CoreV1Api);
    await eventually(
      async () => {
        await core.listNamespacedConfigMap({ namespace: NS });
      },
      { timeoutMs: 150_000, intervalMs: 500, message: 'the API serves again' },
    );
    const apiBackMs = Date.now() - t0;

    after = await eventually(
      async () => {
        const v = await healthyVoters(
          state,
          modules.filter((m) => !victims.includes(m)),
        );
        expect(v).toHaveLength(3);
        expect(v.filter((m) => victims.includes(m))).toEqual([]);
        return v;
      },
      { timeoutMs: 240_000, intervalMs: 1000, message: 'back to 3 healthy voters' },
    );
    const restoredMs = Date.now() - t0;
    console.log(`quorum loss: API back after ${(apiBackMs / 1000).toFixed(1)} s, ${after.join(', ')} voters after ${(restoredMs / 1000).toFixed(1)} s`);

    await stillThere(box, 'quorum-cell');
    // Every voter holds every object at the same revision, read from its own member: the ones
    // that joined after the reset (`--force-new-cluster` on the survivor) did not replay its log
    // to other revisions (etcd issue 14009; on K3s they did, k3s-role-driver.test.ts).
    const core2 = box.kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 10; i++)
      await core2.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: `after-reset-${i}` }, data: { i: String(i) } } });
    await eventually(
      async () => {
        const held = await Promise.all(after.map((m) => memberRevisions(state, m, '/registry/configmaps/default/')));
        expect(held[0]!.length).toBeGreaterThanOrEqual(11);
        for (const [i, h] of held.entries()) expect(h, `${after[i]} holds what ${after[0]} holds`).toEqual(held[0]);
      },
      { timeoutMs: 10_000, message: 'the same objects at the same revisions on every voter' },
    );
    const agents = await agentsOf(box);
    const s = await health(agents.find((a) => a.module === survivor)!);
    expect(s.quorumRecovery).toMatchObject({ survivor, state: 'reset', fenced: victims });
    const resetAt = Date.parse(s.quorumRecovery!.resetAt!);
    console.log(
      `quorum loss: the survivor ${survivor} reset the cluster ${((resetAt - t0) / 1000).toFixed(1)} s after the kill, ${(s.quorumRecovery!.resetAfterMs! / 1000).toFixed(1)} s after it saw the quorum lost`,
    );
    expect(resetAt).toBeGreaterThan(t0);
    // Once the API is back the agent says so on its Lease too.
    await eventually(
      async () => {
        const lease = await box.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: agentLeaseName(survivor), namespace: SYSTEM_NAMESPACE });
        expect(JSON.parse(lease.metadata?.annotations?.[QUORUM_RECOVERY_ANNOTATION] ?? '{}')).toMatchObject({ state: 'reset', survivor });
      },
      { timeoutMs: 30_000, message: "the recovery on the survivor's Lease" },
    );
  });

  it('the lost servers come back as agents: never a second cluster', async () => {
    expect(after).toHaveLength(3);
    // The lost servers come back: with stale data they could form the old quorum between them (a
    // second cluster). They must come back as agents, and the voters stay the three of the box.
    await Promise.all(victims.map((m) => reviveModule(box.dir, m)));
    const revived = await agentsOf(box);
    await eventually(
      async () => {
        for (const m of victims) {
          const h = (await health(revived.find((a) => a.module === m)!)) as { controlPlane?: { role?: string } | null };
          expect(h.controlPlane?.role, `${m} is an agent again`).toBe('agent');
        }
      },
      { timeoutMs: 90_000, intervalMs: 1000, message: 'the revived modules are agents' },
    );
    for (const m of victims) {
      const own = await voters(state, m).catch(() => undefined);
      expect(own, `${m} runs no member of another cluster`).toBeUndefined();
    }
    expect(await healthyVoters(state, after)).toEqual(after);
  });
});

describe('quorum loss without power drivers: nothing is reset before the safety period', () => {
  const spec = join(ROOT, 'test/fixtures/quorum-loss-unfenced-box.yaml');
  /** spec.controlPlane.quorumLossSafetySeconds of the fixture: long enough to see the agents wait on a loaded machine. */
  const SAFETY_MS = 45_000;
  let box: Box;
  let state: BoxState;

  beforeAll(async () => {
    box = await startBox(spec, { withAgents: true, withController: true, timings: 'tuned' });
    state = (await readState(box.dir))!;
    await seed(box, spec);
  });
  afterAll(() => box?.stop());

  it('waits, saying why, until every surviving agent has not heard the missing voters for the safety period', async () => {
    const modules = Object.keys(state.addresses);
    const before = await threeHealthyVoters(state, modules);
    const victims = before.slice(1);
    const survivor = before[0]!;
    const agent = (await agentsOf(box)).find((a) => a.module === survivor)!;
    const t0 = Date.now();
    await Promise.all(victims.map((m) => killModule(box.dir, m)));

    // Until the safety period is over (less a margin for the kill itself), the survivor's member
    // still lists all three voters (nothing was reset), and its agent says what it waits for.
    const seen = new Set<string>();
    while (Date.now() - t0 < SAFETY_MS - 2000) {
      const v = await voters(state, survivor);
      expect(v.names, 'the survivor was not reset before the safety period').toEqual(before);
      const q = (await health(agent)).quorumRecovery;
      if (q?.reason) seen.add(q.reason);
      if (q?.reason === 'confirming') {
        expect(q.message).toMatch(new RegExp(`waiting until every agent has not heard ${victims.join(', ')} for 45 s`));
        expect(q.hint).toMatch(/powered off/);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    expect([...seen]).toContain('confirming');

    // Then it recovers without a power driver: the survivors are a majority of the modules.
    await eventually(
      async () => {
        const q = (await health(agent)).quorumRecovery;
        expect(q?.state).toBe('reset');
      },
      { timeoutMs: 120_000, message: 'the survivor resets after the safety period' },
    );
    await eventually(
      async () => {
        await box.kc.makeApiClient(CoreV1Api).listNamespacedConfigMap({ namespace: NS });
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'the API serves again' },
    );
    await stillThere(box, 'quorum-unfenced');
  });
});
