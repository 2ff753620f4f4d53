import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killController, killModule, reviveModule } from '../../src/local/failure-injection.js';
import { up } from '../../src/local/up.js';
import { loadSpec } from '../../src/spec/load.js';
import { CAPABLE, applyFixture, fencedTaint, leader, readyPod, rejoined, seconds, SPEC } from './failover-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

/** Lease 4 s + detection + fencing + start: still far below Kubernetes' own 30 s (tuned). */
const FAILOVER_BOUND_MS = 20_000;

/**
 * Two controllers, one leader. The leader dies (SIGKILL: it neither releases its Lease nor
 * finishes) in the middle of a failover; the standby takes the Lease over once it expires and,
 * starting from what the API says, finishes the failover and later the rejoin.
 */
describe('controller leader failover', () => {
  let box: Box;
  let settleMs: number;

  beforeAll(async () => {
    box = await startBox(SPEC, { timings: 'tuned', withAgents: true, withController: true, controllers: 2, controlPlane: 'single' });
    settleMs = (await loadSpec(SPEC)).box.spec.failover.settleSeconds * 1000;
    await applyFixture(box);
  });
  afterAll(() => box?.stop());

  /** The leader, once one other than `not` holds the Lease (the dead leader's Lease must expire first). */
  async function currentLeader(not?: string): Promise<string> {
    return eventually(
      async () => {
        const id = await leader(box.kc);
        expect(id).toMatch(/^controller-\d$/);
        expect(id).not.toBe(not);
        return id!;
      },
      { timeoutMs: 30_000, message: `a controller${not ? ` other than ${not}` : ''} holds the leader Lease` },
    );
  }

  it.each([
    ['with the module (the standby does the whole failover)', 'at-kill'],
    ['once the module is fenced (the standby finishes it)', 'after-fence'],
  ] as const)('the leader dies %s: the standby converges', async (_label, when) => {
    // Both controllers run again (the first case's victim is restarted for the second).
    await up(SPEC, { dir: box.dir, withController: true, controllers: 2 });
    const first = await currentLeader();
    const before = await readyPod(box.kc, 'detector', { timeoutMs: 30_000 });
    const killedAt = Date.now();
    await killModule(box.dir, before.node);
    if (when === 'after-fence') await fencedTaint(box.kc, before.node, FAILOVER_BOUND_MS);
    await killController(box.dir, first);
    console.info(`killed ${before.node}, then leader ${first} ${when === 'at-kill' ? 'at once' : `once fenced, ${seconds(Date.now() - killedAt)} after`}`);

    const after = await readyPod(box.kc, 'detector', { timeoutMs: 60_000, notOn: before.node, notUid: before.uid });
    const failoverMs = Date.now() - killedAt;
    const second = await currentLeader(first);
    console.info(`detector Ready on ${after.node} ${seconds(failoverMs)} after the kill; leader now ${second}`);
    expect(after.node).toBe(CAPABLE.detector!.find((m) => m !== before.node));
    expect(failoverMs).toBeLessThan(FAILOVER_BOUND_MS);
    await fencedTaint(box.kc, before.node, 1000);

    // The new leader also finishes the rejoin the old one never saw.
    await reviveModule(box.dir, before.node);
    await rejoined(box.kc, before.node, settleMs * 4 + 30_000);
  });
});
