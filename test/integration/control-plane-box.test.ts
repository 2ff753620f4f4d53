/**
 * A local box with three servers (etcd + kube-apiserver on m1, m2, m3) and the agents' role loops
 * with the `process` driver, on real etcd and real API servers: the API keeps serving through
 * the box's API address when a server dies; the dead member is removed and a spare promoted (as
 * a learner, then a voter) through the guardian's annotations; the dead module, revived, finds
 * itself replaced, discards its data and stays an agent. Then, on a box without agents, the
 * driver's `resetCluster` recovers a quorum loss on real etcd.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_PLANE_ANNOTATIONS, parseControlPlaneReport } from '../../src/contract/control-plane.js';
import type { ControlPlaneReport } from '../../src/contract/role-driver.js';
import { createProcessDriver } from '../../src/local/process-driver.js';
import { killModule, reviveModule } from '../../src/local/failure-injection.js';
import { moduleDir } from '../../src/local/server-layout.js';
import { boxStatus } from '../../src/local/status.js';
import { ROOT } from './apply-helpers.js';
import { eventually, startBox, type Box } from './harness.js';
import { SYSTEM_NAMESPACE } from '../../src/contract/leases.js';

const SPEC = join(ROOT, 'test/fixtures/control-plane-4.yaml');

let box: Box;
let core: CoreV1Api;

beforeAll(async () => {
  box = await startBox(SPEC, { withAgents: true });
  core = box.kc.makeApiClient(CoreV1Api);
}, 240_000);
afterAll(() => box?.stop(), 60_000);

async function report(module: string): Promise<ControlPlaneReport | undefined> {
  const lease = await box.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: SYSTEM_NAMESPACE, name: `agent-${module}` });
  return parseControlPlaneReport(lease.metadata?.annotations?.[CONTROL_PLANE_ANNOTATIONS.report]);
}

const voters = (r: ControlPlaneReport | undefined) =>
  (r?.members ?? [])
    .filter((m) => !m.learner)
    .map((m) => m.name)
    .sort();

async function annotate(node: string, annotations: Record<string, string | null>): Promise<void> {
  await core.patchNode({ name: node, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

describe('a 3-server local box', () => {
  it('runs an etcd member and an API server on each initial server, and every agent reports its member', async () => {
    const status = await boxStatus(box.dir);
    expect(status.servers.map((s) => [s.module, s.address, s.etcd.phase, s.apiserver.phase])).toEqual([
      ['m1', '127.0.1.1', 'running', 'running'],
      ['m2', '127.0.1.2', 'running', 'running'],
      ['m3', '127.0.1.3', 'running', 'running'],
    ]);
    expect(status.components.map((c) => [c.name, c.phase])).toEqual([
      ['api-proxy', 'running'],
      ['kube-controller-manager', 'running'],
      ['kube-scheduler', 'running'],
      ['kwok', 'running'],
      ['storage', 'running'],
      ['supervisor', 'running'],
    ]);
    await eventually(
      async () => {
        for (const m of ['m1', 'm2', 'm3']) {
          const r = await report(m);
          expect(r, m).toMatchObject({ role: 'server', running: true, healthy: true });
          expect(voters(r)).toEqual(['m1', 'm2', 'm3']);
          expect(['m1', 'm2', 'm3']).toContain(r?.leader);
        }
        expect(await report('m4')).toMatchObject({ role: 'agent', running: false });
      },
      { timeoutMs: 30_000, message: 'every agent reports its member on its Lease' },
    );
  });

  it('keeps serving through the API address while a server module is off', async () => {
    await killModule(box.dir, 'm1');
    const status = await boxStatus(box.dir);
    expect(status.servers.find((s) => s.module === 'm1')).toMatchObject({ etcd: { phase: 'stopped' }, apiserver: { phase: 'stopped' } });
    // Every request in the next seconds gets an answer: at most one retry, for a kept-alive
    // connection that went to m1's API server when it died.
    const until = Date.now() + 5000;
    let requests = 0;
    while (Date.now() < until) {
      const nodes = await core.listNode().catch(() => core.listNode());
      expect(nodes.items).toHaveLength(4);
      requests++;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(requests).toBeGreaterThan(5);
  }, 60_000);

  it('removes the dead member when asked, through the agent of the etcd leader', async () => {
    await annotate('m1', { [CONTROL_PLANE_ANNOTATIONS.etcdRemove]: 'true' });
    await eventually(
      async () => {
        for (const m of ['m2', 'm3']) expect(voters(await report(m)), m).toEqual(['m2', 'm3']);
      },
      { timeoutMs: 30_000, message: 'm1 removed from the member list' },
    );
    // Idempotent: removing it again changes nothing.
    await createProcessDriver({ dir: box.dir, module: 'm2' }).removeMember({ name: 'm1' });
    expect(voters(await createProcessDriver({ dir: box.dir, module: 'm3' }).observe())).toEqual(['m2', 'm3']);
  }, 60_000);

  it('promotes a spare: it joins as a learner, is promoted to voter, and serves', async () => {
    await annotate('m4', { [CONTROL_PLANE_ANNOTATIONS.desiredRole]: 'server' });
    await eventually(
      async () => {
        const r = await report('m4');
        expect(r).toMatchObject({ role: 'server', running: true, healthy: true });
        expect(voters(r)).toEqual(['m2', 'm3', 'm4']);
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'm4 a healthy voter' },
    );
    const log = await readFile(join(box.dir, 'logs', 'agent-m4.log'), 'utf8');
    const at = (msg: string) => log.indexOf(`"msg":"${msg}"`);
    expect(at('member added as learner')).toBeGreaterThan(-1);
    expect(at('learner promoted to voter')).toBeGreaterThan(at('member added as learner'));
    expect(at('kube-apiserver started')).toBeGreaterThan(at('learner promoted to voter'));
    expect((await boxStatus(box.dir)).servers.find((s) => s.module === 'm4')).toMatchObject({ etcd: { phase: 'running' }, apiserver: { phase: 'running' } });
  }, 150_000);

  it('the replaced module, revived, discards its data and stays an agent', async () => {
    await reviveModule(box.dir, 'm1');
    await eventually(
      async () => {
        expect(await report('m1')).toMatchObject({ role: 'agent', running: false });
      },
      { timeoutMs: 30_000, message: 'm1 reports role agent' },
    );
    expect(
      await access(join(moduleDir(box.dir, 'm1'), 'etcd')).then(
        () => true,
        () => false,
      ),
    ).toBe(false);
    expect(voters(await report('m2'))).toEqual(['m2', 'm3', 'm4']);
    expect((await core.listNode()).items).toHaveLength(4);
  }, 60_000);
});

/**
 * The process driver's quorum-loss primitive on real etcd, without agents (so nothing else acts):
 * two of three servers off, the survivor's member made the only voter on its data, the API back
 * with everything written before.
 */
describe('process driver: resetCluster after a quorum loss', () => {
  let lone: Box;

  beforeAll(async () => {
    lone = await startBox(SPEC);
  }, 240_000);
  afterAll(() => lone?.stop(), 60_000);

  it('makes the survivor the only voter, keeping its data', async () => {
    const loneCore = lone.kc.makeApiClient(CoreV1Api);
    await loneCore.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'before-loss' }, data: { k: 'v' } } });
    await killModule(lone.dir, 'm1');
    await killModule(lone.dir, 'm2');
    const survivor = createProcessDriver({ dir: lone.dir, module: 'm3' });
    await eventually(async () => expect(await survivor.observe()).toMatchObject({ role: 'server', healthy: false }), {
      timeoutMs: 30_000,
      message: 'm3 without a leader',
    });
    await survivor.resetCluster();
    const after = await survivor.observe();
    expect(after).toMatchObject({ role: 'server', running: true, healthy: true, leader: 'm3' });
    expect(voters(after)).toEqual(['m3']);
    const cm = await eventually(() => loneCore.readNamespacedConfigMap({ namespace: 'default', name: 'before-loss' }), {
      timeoutMs: 30_000,
      message: 'the API serves again',
    });
    expect(cm.data).toEqual({ k: 'v' });
  }, 120_000);
});
