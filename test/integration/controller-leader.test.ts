import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEADER_LEASE } from '../../src/controller/leader-election.js';
import { freePorts } from '../../src/local/ports.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { ROOT } from './apply-helpers.js';
import { AgentViews, allReachable, applyFixture, fixture, MODULES, SPEC } from './controller-helpers.js';
import { eventually, startBox, type Box } from './harness.js';
import { FENCE_ANNOTATIONS } from '../../src/contract/fencing.js';
import { SYSTEM_NAMESPACE } from '../../src/contract/leases.js';

/**
 * Two `edgebox controller` processes (the built CLI) on one box: one leads and acts, the other
 * stands by; SIGKILL the leader and the standby takes over within a lease (4 s) plus a poll;
 * SIGTERM releases the Lease so the takeover is immediate.
 */
describe('edgebox controller: leader election between two processes', () => {
  let box: Box;
  let spec: BoxSpec;
  let views: AgentViews;
  const procs = new Map<string, { child: ChildProcess; metricsPort: number }>();

  const holder = async () => (await box.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: LEADER_LEASE, namespace: SYSTEM_NAMESPACE })).spec;
  const leaderGauge = async (id: string) => {
    const text = await (await fetch(`http://127.0.0.1:${procs.get(id)!.metricsPort}/metrics`)).text();
    return /^edgebox_leader (\d)$/m.exec(text)?.[1];
  };
  const exited = (child: ChildProcess) => new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));

  async function launch(id: string): Promise<void> {
    const [metricsPort] = await freePorts(1);
    const log = createWriteStream(join(box.dir, `${id}.log`));
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/edgebox.js'),
        'controller',
        '--spec',
        SPEC,
        '--kubeconfig',
        box.kubeconfigPath,
        '--id',
        id,
        '--metrics-port',
        String(metricsPort),
        '--local-dir',
        box.dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    procs.set(id, { child, metricsPort: metricsPort! });
    await eventually(async () => expect(await leaderGauge(id)).toMatch(/^[01]$/), { timeoutMs: 30_000, message: `${id} serves /metrics` });
  }

  beforeAll(async () => {
    box = await startBox(SPEC);
    spec = await fixture();
    await applyFixture(box, spec);
    views = new AgentViews(box.kc, spec.metadata.name);
    for (const m of MODULES) await views.set(m, allReachable(m));
    views.start();
    await launch('c-a');
    await launch('c-b');
  });
  afterAll(async () => {
    for (const { child } of procs.values()) {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited(child);
    }
    await views?.stop();
    await box?.stop();
  });

  it('exactly one of the two leads, and only it acts', async () => {
    const leader = await eventually(
      async () => {
        const s = await holder();
        expect(['c-a', 'c-b']).toContain(s?.holderIdentity);
        return s!.holderIdentity!;
      },
      { timeoutMs: 15_000, message: 'a leader' },
    );
    const standby = leader === 'c-a' ? 'c-b' : 'c-a';
    await eventually(
      async () => {
        expect(await leaderGauge(leader)).toBe('1');
        expect(await leaderGauge(standby)).toBe('0');
      },
      { timeoutMs: 5000, message: 'leader gauges' },
    );
    // Something to do: a module that is healthy but carries a stale detection (as if a previous
    // leader had detected it). The leader cancels it, once, and the Event names it.
    const core = box.kc.makeApiClient(CoreV1Api);
    await core.patchNode({
      name: 'c4',
      body: [
        {
          op: 'add',
          path: `/metadata/annotations/${FENCE_ANNOTATIONS.failover.replace('/', '~1')}`,
          value: JSON.stringify({ detectedAt: new Date().toISOString() }),
        },
      ],
    });
    await eventually(
      async () => {
        expect((await core.readNode({ name: 'c4' })).metadata?.annotations?.[FENCE_ANNOTATIONS.failover]).toBeUndefined();
      },
      { timeoutMs: 10_000, message: 'the stale detection cancelled' },
    );
    // The Event is written after the patch the test saw.
    await eventually(
      async () => {
        const events = (await core.listNamespacedEvent({ namespace: 'default' })).items.filter((e) => e.reason === 'ModuleRecovered');
        expect(events.map((e) => e.reportingInstance)).toEqual([leader]);
      },
      { timeoutMs: 5000, message: 'one ModuleRecovered Event, from the leader' },
    );
  });

  it('SIGKILL of the leader: the standby takes over within about 5 s', async () => {
    const leader = (await holder())!.holderIdentity!;
    const standby = leader === 'c-a' ? 'c-b' : 'c-a';
    const { child } = procs.get(leader)!;
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await exited(child);
    const took = await eventually(
      async () => {
        const s = await holder();
        expect(s?.holderIdentity).toBe(standby);
        return Date.now() - killedAt;
      },
      { timeoutMs: 15_000, intervalMs: 100, message: `${standby} takes over` },
    );
    console.info(`leader killed -> ${standby} leads after ${took} ms`);
    expect(took).toBeLessThan(6000);
    // The lease was 4 s: not before it ran out.
    expect(took).toBeGreaterThanOrEqual(2500);
    expect((await holder())?.leaseTransitions).toBeGreaterThanOrEqual(1);
    await eventually(async () => expect(await leaderGauge(standby)).toBe('1'), { timeoutMs: 3000, message: 'new leader gauge' });
  });

  it('SIGTERM of the leader releases the Lease: a restarted standby takes over at once', async () => {
    const leader = (await holder())!.holderIdentity!;
    const other = leader === 'c-a' ? 'c-b' : 'c-a';
    await launch(other);
    const { child } = procs.get(leader)!;
    const stoppedAt = Date.now();
    child.kill('SIGTERM');
    await exited(child);
    expect(child.exitCode).toBe(0);
    const took = await eventually(
      async () => {
        expect((await holder())?.holderIdentity).toBe(other);
        return Date.now() - stoppedAt;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: `${other} takes over` },
    );
    console.info(`leader stopped -> ${other} leads after ${took} ms`);
    expect(took).toBeLessThan(3000);
  });
});
