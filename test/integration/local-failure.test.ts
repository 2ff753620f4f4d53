import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../../src/local/box-state.js';
import { killModule, reviveModule } from '../../src/local/failure-injection.js';
import { isNotFound } from '../../src/kube/client.js';
import { isRunning } from '../../src/local/processes.js';
import { readServerRecord } from '../../src/local/server-layout.js';
import { boxStatus } from '../../src/local/status.js';
import { TUNED } from '../../src/render/tuning.js';
import { capabilityLabel } from '../../src/contract/labels.js';
import { eventually, startBox, type Box } from './harness.js';

const SPEC = 'examples/article-box.yaml';
const ready = (n: V1Node) => n.status?.conditions?.find((c) => c.type === 'Ready');

/**
 * A dead module, with the tuned timings: the node lifecycle controller (not KWOK, not us) marks
 * it Unknown after the grace period and taints it; the pod on it keeps running in the API until
 * its toleration (the API server's tuned default) runs out, is then evicted, and stays
 * Terminating because nothing on the dead module confirms it stopped.
 */
describe('edgebox local kill / revive / down', () => {
  let box: Box;
  let core: CoreV1Api;
  let victim: string;

  beforeAll(async () => {
    box = await startBox(SPEC, { timings: 'tuned' });
    core = box.kc.makeApiClient(CoreV1Api);
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'motor', namespace: 'default' },
        spec: { nodeSelector: { [capabilityLabel('can')]: 'true' }, containers: [{ name: 'c', image: 'ghcr.io/example/motor-controller:2.3' }] },
      },
    });
    victim = await eventually(
      async () => {
        const p = await core.readNamespacedPod({ name: 'motor', namespace: 'default' });
        expect(p.status?.phase).toBe('Running');
        return p.spec!.nodeName!;
      },
      { timeoutMs: 30_000, message: 'pod motor Running' },
    );
  });
  afterAll(() => box?.stop());

  it('kill: the node goes Unknown through the node lifecycle controller; the pod waits out its toleration, then stays Terminating', async () => {
    const killedAt = Date.now();
    expect(await killModule(box.dir, victim)).toEqual({ module: victim, changed: true });
    expect((await readState(box.dir))?.killed).toEqual([victim]);
    expect((await killModule(box.dir, victim)).changed).toBe(false);

    const dead = await eventually(
      async () => {
        const n = await core.readNode({ name: victim });
        expect(ready(n)?.status).not.toBe('True');
        return n;
      },
      { timeoutMs: 60_000, intervalMs: 200, message: `${victim} NotReady` },
    );
    const detectedMs = Date.now() - killedAt;
    console.info(`kill -> ${victim} ${ready(dead)?.status} in ${(detectedMs / 1000).toFixed(1)} s`);
    // The lifecycle controller's own verdict on a silent node, after its grace period.
    expect(ready(dead)?.status).toBe('Unknown');
    expect(ready(dead)?.reason).toBe('NodeStatusUnknown');
    expect(detectedMs).toBeGreaterThan((TUNED.nodeMonitorGracePeriodSeconds - TUNED.nodeLeaseDurationSeconds / 4 - 1) * 1000);
    const unreachable = await eventually(
      async () => {
        const t = (await core.readNode({ name: victim })).spec?.taints?.find((x) => x.key === 'node.kubernetes.io/unreachable' && x.effect === 'NoExecute');
        expect(t).toBeTruthy();
        return t!;
      },
      { timeoutMs: 10_000, message: 'unreachable NoExecute taint' },
    );

    // Before the toleration runs out the pod is untouched: no eviction, no second copy.
    const before = await core.readNamespacedPod({ name: 'motor', namespace: 'default' });
    expect(before.metadata?.deletionTimestamp).toBeUndefined();
    expect(before.spec?.tolerations?.find((t) => t.key === 'node.kubernetes.io/unreachable')?.tolerationSeconds).toBe(TUNED.defaultTolerationSeconds);

    const evicted = await eventually(
      async () => {
        const p = await core.readNamespacedPod({ name: 'motor', namespace: 'default' });
        expect(p.metadata?.deletionTimestamp).toBeTruthy();
        return p;
      },
      { timeoutMs: (TUNED.defaultTolerationSeconds + 30) * 1000, intervalMs: 500, message: 'pod motor evicted after its toleration' },
    );
    const evictedAt = new Date(evicted.metadata!.deletionTimestamp!).getTime() - (evicted.metadata!.deletionGracePeriodSeconds ?? 0) * 1000;
    const taintedAt = new Date(unreachable.timeAdded!).getTime();
    expect(evictedAt - taintedAt).toBeGreaterThanOrEqual((TUNED.defaultTolerationSeconds - 1) * 1000);

    // Nothing confirms the pod stopped: it stays Terminating on the dead node.
    await new Promise((r) => setTimeout(r, 5000));
    const still = await core.readNamespacedPod({ name: 'motor', namespace: 'default' });
    expect(still.metadata?.deletionTimestamp).toBeTruthy();
    expect(still.spec?.nodeName).toBe(victim);

    // The other modules kept heartbeating.
    const others = (await core.listNode()).items.filter((n) => n.metadata?.name !== victim);
    expect(others.map((n) => ready(n)?.status)).toEqual(others.map(() => 'True'));
  });

  it('revive: the node is Ready again and the Terminating pod is finally confirmed gone', async () => {
    expect(await reviveModule(box.dir, victim)).toEqual({ module: victim, changed: true });
    expect((await readState(box.dir))?.killed).toEqual([]);
    await eventually(async () => expect(ready(await core.readNode({ name: victim }))?.status).toBe('True'), {
      timeoutMs: 30_000,
      message: `${victim} Ready again`,
    });
    await eventually(
      async () => {
        const gone = await core.readNamespacedPod({ name: 'motor', namespace: 'default' }).then(
          () => false,
          (e) => isNotFound(e),
        );
        expect(gone).toBe(true);
      },
      { timeoutMs: 30_000, message: 'the Terminating pod deleted once its module is back' },
    );
    // Still Ready after more than a lease duration: heartbeats really resumed.
    await new Promise((r) => setTimeout(r, (TUNED.nodeMonitorGracePeriodSeconds + 2) * 1000));
    expect(ready(await core.readNode({ name: victim }))?.status).toBe('True');
  });

  it('a kube-controller-manager that exits (as after a lost leader election) is started again by the supervisor', async () => {
    const before = (await readState(box.dir))!.components.find((c) => c.name === 'kube-controller-manager')!;
    process.kill(before.pid, 'SIGKILL');
    const after = await eventually(
      async () => {
        const c = (await readState(box.dir))!.components.find((x) => x.name === 'kube-controller-manager')!;
        expect(c.pid).not.toBe(before.pid);
        expect(await isRunning(c.pid, c.bin)).toBe(true);
        return c;
      },
      { timeoutMs: 30_000, message: 'kube-controller-manager started again' },
    );
    expect(after.restarts).toBe(1);
    expect((await boxStatus(box.dir)).components.find((c) => c.name === 'kube-controller-manager')).toMatchObject({ phase: 'running', restarts: 1 });
  });

  it('down stops every component and leaves no process behind', async () => {
    const state = await readState(box.dir);
    expect(state?.components.map((c) => c.name)).toEqual(['api-proxy', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'storage', 'supervisor']);
    const members = (await Promise.all(state!.controlPlane.initialServers.map((m) => readServerRecord(box.dir, m))))
      .flatMap((r) => [r.etcd, r.apiserver])
      .filter((p) => p !== undefined);
    expect(members).toHaveLength(2 * state!.controlPlane.initialServers.length);
    await box.stop();
    for (const c of [...state!.components, ...members]) expect(await isRunning(c.pid, c.bin), c.bin).toBe(false);
    expect((await boxStatus(box.dir)).components.every((c) => c.phase === 'stopped')).toBe(true);
    await box.stop();
  });
});
