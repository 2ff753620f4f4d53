import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../../src/local/box-state.js';
import { restartComponent } from '../../src/local/failure-injection.js';
import { healModules, listCuts, partitionModules } from '../../src/local/partition.js';
import { loadSpec } from '../../src/spec/load.js';
import { applyFixture, fencedNodes, podUids, readyPod, seconds, SPEC } from './failover-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

/**
 * What must NOT fail over: a module that only one peer stops hearing from (a partial
 * partition), and every module while the API server is briefly away (the controller must not
 * act on the stale Leases it finds when it comes back). Nothing is killed in this file, so any
 * fencing at all is a false one.
 */
describe('no false fencing', () => {
  let box: Box;
  let detectionMs: number;

  beforeAll(async () => {
    box = await startBox(SPEC, { timings: 'tuned', withAgents: true, withController: true, controlPlane: 'single' });
    const { failover } = (await loadSpec(SPEC)).box.spec;
    detectionMs = failover.heartbeatIntervalMs * failover.missedHeartbeats;
    await applyFixture(box);
  });
  afterAll(async () => {
    await healModules(box.dir).catch(() => undefined);
    await box?.stop();
  });

  /** Polls for `ms` that no module gets fenced and no pod is replaced. */
  async function neverFenced(ms: number, uids: Record<string, string>): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      expect(await fencedNodes(box.kc)).toEqual([]);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await podUids(box.kc)).toEqual(uids);
  }

  it('a module cut off from one peer only is never fenced, though that peer reports it unreachable', async () => {
    const motor = await readyPod(box.kc, 'motor', { timeoutMs: 30_000 });
    const peer = motor.node === 'core-1' ? 'core-2' : 'core-1';
    const uids = await podUids(box.kc);
    await partitionModules(box.dir, [motor.node], { from: [peer] });
    try {
      expect(await listCuts(box.dir)).toEqual([
        { kind: 'cut', from: motor.node, to: peer },
        { kind: 'cut', from: peer, to: motor.node },
      ]);
      // The partition is real: the peer's agent reports the module unreachable (and vice versa)...
      const agents = (await readState(box.dir))!.agents!;
      const peerAgent = agents.find((a) => a.module === peer)!;
      await eventually(
        async () => {
          const view = (await (await fetch(`http://${peerAgent.address}:${peerAgent.httpPort}/peers`)).json()) as Record<string, { reachable: boolean }>;
          expect(view[motor.node]?.reachable).toBe(false);
        },
        { timeoutMs: detectionMs * 4 + 2000, message: `${peer}'s agent reports ${motor.node} unreachable` },
      );
      // ...and yet, well past detection, fencing and failover time, nothing is fenced.
      await neverFenced(Math.max(10_000, detectionMs * 20), uids);
      console.info(`${motor.node} cut off from ${peer} for ${seconds(Math.max(10_000, detectionMs * 20))}: not fenced, pods untouched`);
    } finally {
      await healModules(box.dir, { module: motor.node });
    }
    expect(await listCuts(box.dir)).toEqual([]);
  });

  it('the API server briefly unavailable: no module is fenced when it comes back', async () => {
    const uids = await podUids(box.kc);
    // 6 s away (plus its start): every agent Lease and node Lease goes stale meanwhile, yet
    // stays below the node lifecycle controller's tuned grace period (20 s, minus KWOK's 5 s
    // renewal interval), so Kubernetes itself finds nothing either.
    const downFor = 6000;
    const started = Date.now();
    await restartComponent(box.dir, 'kube-apiserver', { downForMs: downFor });
    console.info(`kube-apiserver stopped for ${seconds(downFor)}, answering again after ${seconds(Date.now() - started)}`);
    // Long enough for the controller to re-list, see fresh Leases again, and act if it would.
    await neverFenced(15_000, uids);
  });
});
