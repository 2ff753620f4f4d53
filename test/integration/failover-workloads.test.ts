import { CoreV1Api, StorageV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killModule, reviveModule } from '../../src/local/failure-injection.js';
import { SELF_FENCE_MARGIN_MS } from '../../src/controller/model.js';
import { loadSpec } from '../../src/spec/load.js';
import { CAPABLE, applyFixture, fencedTaint, NS, readyPod, rejoined, seconds, SPEC, watchPods } from './failover-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

/** The failover must take seconds; this bound only catches a fall back to Kubernetes' own timers (30 s tuned). */
const FAILOVER_BOUND_MS = 15_000;

/**
 * Self-healing end to end on a local box with agents and a controller: a module is killed (its
 * agent dies, its node stops heartbeating), a quorum of the other agents reports it, the
 * controller fences it with the out-of-service taint and force-deletes its pods, and the real
 * scheduler puts the replacement on the workload's other capable module. Then the module is
 * revived and rejoins once it has been healthy for the settle period.
 */
describe('failover of a critical Deployment, a StatefulSet and a singleton', () => {
  let box: Box;
  let settleMs: number;
  let selfFenceMs: number;

  beforeAll(async () => {
    box = await startBox(SPEC, { timings: 'tuned', withAgents: true, withController: true, controlPlane: 'single' });
    const { failover } = (await loadSpec(SPEC)).box.spec;
    settleMs = failover.settleSeconds * 1000;
    // A singleton on a module fenced by the taint alone is released only once the module could
    // have stopped it itself: its agent's last Lease renewal + selfFenceSeconds + a margin.
    selfFenceMs = failover.selfFenceSeconds * 1000 + SELF_FENCE_MARGIN_MS;
    await applyFixture(box);
  });
  afterAll(() => box?.stop());

  it.each([
    ['detector', 'critical Deployment'],
    ['recorder', 'StatefulSet'],
    ['motor', 'singleton Deployment'],
  ])('%s (%s) comes back Running on its other capable module after its module is killed, then the module rejoins', async (workload) => {
    const core = box.kc.makeApiClient(CoreV1Api);
    const before = await readyPod(box.kc, workload, { timeoutMs: 30_000 });
    const target = CAPABLE[workload]!.find((m) => m !== before.node)!;
    const watch = await watchPods(box.kc, workload);
    try {
      const killedAt = Date.now();
      await killModule(box.dir, before.node);
      const after = await readyPod(box.kc, workload, { timeoutMs: 60_000, notOn: before.node, notUid: before.uid });
      const failoverMs = Date.now() - killedAt;
      console.info(`${workload}: kill of ${before.node} -> replacement ${after.name} Ready on ${after.node} in ${seconds(failoverMs)}`);
      expect(after.node).toBe(target);
      expect(failoverMs).toBeLessThan(FAILOVER_BOUND_MS);
      if (workload === 'recorder') {
        // Its volume came with it: the same claim and volume, attached to the new module only
        // (the attach-detach controller detached it from the dead one because of the fence).
        const claim = await core.readNamespacedPersistentVolumeClaim({ name: 'data-recorder-0', namespace: NS });
        const attachments = (await box.kc.makeApiClient(StorageV1Api).listVolumeAttachment()).items.filter(
          (a) => a.spec.source.persistentVolumeName === claim.spec?.volumeName,
        );
        expect(attachments.map((a) => [a.spec.nodeName, a.status?.attached])).toEqual([[after.node, true]]);
      }

      // Fenced the fast way (no power driver in the fixture): the out-of-service taint, and the
      // old pod force-deleted rather than left Terminating on a module nobody hears from (the
      // taint's own eviction may have marked it Terminating a moment before; a singleton, which
      // tolerates the taint, is held until the module could have fenced itself).
      const fence = await fencedTaint(box.kc, before.node, 5_000);
      await eventually(
        async () => {
          const old = await core.readNamespacedPod({ name: before.name, namespace: NS }).catch(() => undefined);
          expect(old?.metadata?.uid, 'the old pod is deleted').not.toBe(before.uid);
        },
        { timeoutMs: 5_000 + (workload === 'motor' ? selfFenceMs : 0), message: `${before.name} deleted` },
      );

      // The replacement was created only once the module was fenced, and (one watch stream,
      // so in order) only after the old pod was deleted or terminating: never two live copies.
      const replacement = await core.readNamespacedPod({ name: after.name, namespace: NS });
      expect(new Date(replacement.metadata!.creationTimestamp!).getTime()).toBeGreaterThanOrEqual(Math.floor(fence.timeAdded / 1000) * 1000);
      const firstOfNew = watch.events.findIndex((e) => e.uid !== before.uid);
      const oldGone = watch.events.findIndex((e) => e.uid === before.uid && (e.type === 'DELETED' || e.terminating));
      expect(oldGone, 'the old pod was deleted in the watch').toBeGreaterThanOrEqual(0);
      expect(oldGone, 'old pod deleted before the replacement appeared').toBeLessThan(firstOfNew);
    } finally {
      watch.stop();
    }

    // Rejoin: the taint stays until the module has been healthy for the settle period.
    await reviveModule(box.dir, before.node);
    const revivedAt = Date.now();
    const rejoinedAt = await rejoined(box.kc, before.node, settleMs + 30_000);
    console.info(`${before.node}: revived -> taint removed in ${seconds(rejoinedAt - revivedAt)} (settle ${seconds(settleMs)})`);
    // Slack of 1 s: the controller may record `healthy-since` with second resolution.
    expect(rejoinedAt - revivedAt).toBeGreaterThanOrEqual(settleMs - 1000);
    // The workload stays where it moved: a rejoin never moves running pods back.
    expect((await readyPod(box.kc, workload, { timeoutMs: 5_000 })).node).toBe(target);
  });
});
