import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdGateway } from '../../src/agent/role/etcd-gateway.js';
import { applyBox } from '../../src/apply/apply.js';
import { Cluster } from '../../src/apply/cluster.js';
import { CONTROL_PLANE_ANNOTATIONS as A } from '../../src/contract/control-plane.js';
import { GROUP, PLURAL, VERSION } from '../../src/crd/edgebox-crd.js';
import { readState, type BoxState } from '../../src/local/box-state.js';
import { killModule, reviveModule } from '../../src/local/failure-injection.js';
import { loadSpec } from '../../src/spec/load.js';
import { ROOT } from './apply-helpers.js';
import { eventually, startBox, type Box } from './harness.js';
import type { ControlPlaneStatus } from '../../src/contract/edgebox-status.js';

/**
 * The guardian on a real 3-voter control plane (local box: each server module's agent runs an
 * etcd member and an API server through the process role driver), with agents and a controller:
 * a server is killed, the guardian removes its member and promotes another module; the old one
 * comes back as an agent; the data written before is still there; drain refuses what would break
 * quorum and moves a server role otherwise.
 */

const run = promisify(execFile);
const BIN = join(ROOT, 'bin/edgebox.js');
const NS = 'default';
const DATA = { written: 'before the kill' };
const BOX = 'guardian-cell';

async function controlPlane(box: Box): Promise<ControlPlaneStatus> {
  const o = (await box.kc.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name: BOX })) as {
    status?: { controlPlane?: ControlPlaneStatus };
  };
  if (!o.status?.controlPlane) throw new Error('no status.controlPlane yet');
  return o.status.controlPlane;
}

/** The voting members as a live member lists them, with a leader. */
async function etcdVoters(state: BoxState, alive: readonly string[]): Promise<string[]> {
  for (const m of alive) {
    const g = etcdGateway({ endpoint: `http://${state.addresses[m]}:${state.ports.server.etcdClient}`, timeoutMs: 2000 });
    const [members, status] = await Promise.all([g.memberList(), g.status()]).catch(() => [undefined, undefined] as const);
    if (members && status?.leaderId !== undefined)
      return members
        .filter((x) => !x.learner)
        .map((x) => x.name)
        .sort();
  }
  throw new Error('no live member with a leader');
}

/** N healthy voters in the EdgeBox status, none of them in `not`, nothing pending. */
async function restored(box: Box, not: readonly string[] = []): Promise<ControlPlaneStatus> {
  const cp = await controlPlane(box);
  expect(cp.voters.filter((v) => v.healthy)).toHaveLength(3);
  expect(cp.voters.map((v) => v.module).filter((m) => not.includes(m))).toEqual([]);
  expect(cp.pending).toBeNull();
  return cp;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { timeout: 240_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

describe('the guardian on a 3-server local box', () => {
  const spec = join(ROOT, 'test/fixtures/control-plane-box.yaml');
  let box: Box;
  let state: BoxState;

  beforeAll(async () => {
    box = await startBox(spec, { withAgents: true, withController: true, timings: 'tuned' });
    state = (await readState(box.dir))!;
    const { box: parsed } = await loadSpec(spec);
    await applyBox({ box: parsed, cluster: new Cluster(box.kc) });
    await box.kc.makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'precious' }, data: DATA } });
  }, 180_000);
  afterAll(() => box?.stop());

  it('replaces a killed server, takes the old one back as an agent, keeps the data, and drains safely', async () => {
    const modules = Object.keys(state.addresses).sort();
    const before = await eventually(() => restored(box), { timeoutMs: 120_000, intervalMs: 1000, message: '3 healthy voters in status.controlPlane' });
    const voters = before.voters.map((v) => v.module);
    expect(before.leader).not.toBeNull();

    // `edgebox status --output json` says the same.
    const st = await cli(['status', '--dir', box.dir, '--output', 'json']);
    expect(st.code, st.stderr).toBe(0);
    const json = JSON.parse(st.stdout) as { controlPlane: ControlPlaneStatus; peripherals: unknown[]; apiAvailable: boolean };
    expect(json.apiAvailable).toBe(true);
    expect(json.controlPlane.voters.map((v) => [v.module, v.healthy])).toEqual(voters.map((m) => [m, true]));
    expect(Array.isArray(json.peripherals)).toBe(true);

    // Kill a server that is not the etcd leader's module (either works; this keeps the API's
    // failover out of the timing).
    const victim = voters.find((m) => m !== before.leader)!;
    const core = box.kc.makeApiClient(CoreV1Api);
    const t0 = Date.now();
    await killModule(box.dir, victim);

    // The API keeps serving throughout (two of three voters are left).
    const served = await eventually(async () => core.listNamespacedConfigMap({ namespace: NS }), {
      timeoutMs: 20_000,
      intervalMs: 250,
      message: 'the API serves with one server down',
    });
    expect(served.items.some((c) => c.metadata?.name === 'precious')).toBe(true);

    // Drain refuses while a voter is down (or while the guardian's change is under way).
    const other = voters.find((m) => m !== victim)!;
    await eventually(
      async () => {
        const cp = await controlPlane(box);
        expect(cp.voters.find((v) => v.module === victim)?.healthy ?? false).toBe(false);
      },
      { timeoutMs: 30_000, message: `${victim} unhealthy in the status` },
    );
    const refused = await cli(['drain', other, '--dir', box.dir]);
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/drain of .* refused: (voter\(s\) .* already unhealthy|another control-plane change is in progress)/);

    const after = await eventually(() => restored(box, [victim]), { timeoutMs: 120_000, intervalMs: 500, message: `3 healthy voters without ${victim}` });
    const restoredMs = Date.now() - t0;
    expect(
      await etcdVoters(
        state,
        modules.filter((m) => m !== victim),
      ),
    ).toEqual(after.voters.map((v) => v.module).sort());
    const promoted = after.voters.map((v) => v.module).find((m) => !voters.includes(m))!;
    expect(after.history.map((h) => `${h.type} ${h.module ?? ''}`.trim())).toEqual(
      expect.arrayContaining([`remove ${victim}`, `promote ${promoted}`, 'restored']),
    );
    console.log(`one server lost: ${victim} replaced by ${promoted}, 3 healthy voters ${(restoredMs / 1000).toFixed(1)} s after the kill`);

    // Revived, the old server resets and stays an agent.
    await reviveModule(box.dir, victim);
    await eventually(
      async () => {
        const cp = await controlPlane(box);
        expect(cp.history.some((h) => h.module === victim && (h.type === 'reset' || h.type === 'demote'))).toBe(true);
        expect(cp.voters.map((v) => v.module)).not.toContain(victim);
        const node = await core.readNode({ name: victim });
        expect(node.metadata?.annotations?.[A.desiredRole]).toBeUndefined();
      },
      { timeoutMs: 120_000, intervalMs: 1000, message: `${victim} back as an agent` },
    );
    expect(
      await etcdVoters(
        state,
        modules.filter((m) => m !== victim),
      ),
    ).not.toContain(victim);

    // Data written before the kill.
    expect((await core.readNamespacedConfigMap({ name: 'precious', namespace: NS })).data).toEqual(DATA);
    expect((await box.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'keeper', namespace: BOX })).spec?.replicas).toBe(2);

    // A drain that keeps the quorum: the replacement first, then the drained module goes.
    const drained = after.voters.map((v) => v.module).find((m) => m !== after.leader)!;
    const dry = await cli(['drain', drained, '--dir', box.dir, '--dry-run', '--output', 'json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ ok: true, server: true, module: drained });
    const ok = await cli(['drain', drained, '--dir', box.dir, '--timeout', '180', '--output', 'json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ module: drained, done: true });
    // The status follows within a pass or two of what drain saw.
    await eventually(
      async () => {
        const final = await restored(box, [drained]);
        expect(final.history.some((h) => h.type === 'demote' && h.module === drained)).toBe(true);
      },
      { timeoutMs: 20_000, message: `status.controlPlane after draining ${drained}` },
    );
    expect(
      await etcdVoters(
        state,
        modules.filter((m) => m !== victim && m !== drained),
      ),
    ).not.toContain(drained);
    expect((await core.readNode({ name: drained })).spec?.unschedulable).toBe(true);
    expect((await core.readNamespacedConfigMap({ name: 'precious', namespace: NS })).data).toEqual(DATA);

    // Maintenance over: it may serve again (the next test needs two candidates).
    const undo = await cli(['drain', drained, '--dir', box.dir, '--undo']);
    expect(undo.code, undo.stderr).toBe(0);
    const node = await core.readNode({ name: drained });
    expect(node.spec?.unschedulable ?? false).toBe(false);
    expect(node.metadata?.annotations?.[A.drain]).toBeUndefined();
  }, 600_000);

  it('with a majority of servers lost, status reads the agents, and the box comes back to 3 voters with its data', async () => {
    const modules = Object.keys(state.addresses).sort();
    const before = await eventually(() => restored(box), { timeoutMs: 120_000, intervalMs: 1000, message: '3 healthy voters before the loss' });
    const victims = before.voters.map((v) => v.module).slice(0, 2);
    await Promise.all(victims.map((m) => killModule(box.dir, m)));

    // While the API has no quorum, `edgebox status --dir` answers from the agents and says so.
    const fallback = await eventually(
      async () => {
        const st = await cli(['status', '--dir', box.dir, '--output', 'json']);
        expect(st.code, st.stderr).toBe(0);
        const json = JSON.parse(st.stdout) as { apiAvailable: boolean; source: string; message?: string; controlPlane: ControlPlaneStatus };
        expect(json.apiAvailable).toBe(false);
        return json;
      },
      { timeoutMs: 60_000, intervalMs: 200, message: 'status from the agents while the API is unavailable' },
    );
    expect(fallback.source).toBe('agents');
    expect(fallback.message).toMatch(/the API is unavailable/);

    await eventually(() => restored(box, victims), { timeoutMs: 240_000, intervalMs: 1000, message: `3 healthy voters without ${victims.join(', ')}` });
    expect(
      await etcdVoters(
        state,
        modules.filter((m) => !victims.includes(m)),
      ),
    ).toHaveLength(3);
    const core = box.kc.makeApiClient(CoreV1Api);
    expect((await core.readNamespacedConfigMap({ name: 'precious', namespace: NS })).data).toEqual(DATA);
    expect((await box.kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'keeper', namespace: BOX })).spec?.replicas).toBe(2);
  }, 600_000);
});
