import { CoreV1Api, CustomObjectsApi, type CoreV1Event, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killModule, reviveModule } from '../../src/local/failure-injection.js';
import { readState } from '../../src/local/box-state.js';
import { LABELS } from '../../src/contract/labels.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import {
  AgentViews,
  allReachable,
  applyFixture,
  fixture,
  MODULES,
  NS,
  nodeLeaseRenewTime,
  runController,
  serviceAccountKubeConfig,
  SPEC,
  withUnreachable,
  type TestController,
} from './controller-helpers.js';
import { eventually, startBox, type Box } from './harness.js';
import { OUT_OF_SERVICE_TAINT } from '../../src/contract/taints.js';
import { FENCE_ANNOTATIONS } from '../../src/contract/fencing.js';

/**
 * The controller against a real control plane (a local box; KWOK plays the nodes), running
 * with its rendered ServiceAccount's RBAC. The agents' views are written by the test as Leases,
 * the contract between agents and controller; a killed module's node Lease really stops
 * renewing (`local kill`), and a live one really keeps renewing (KWOK).
 */
describe('edgebox controller: detection, fencing, release, rejoin', () => {
  let box: Box;
  let spec: BoxSpec;
  let core: CoreV1Api;
  let views: AgentViews;
  let controller: TestController;
  let victim: string;
  let survivor: string;
  let motorUid: string;

  const node = (name: string) => core.readNode({ name });
  const tainted = (n: V1Node) => (n.spec?.taints ?? []).some((t) => t.key === OUT_OF_SERVICE_TAINT.key);
  const motorPods = async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: `${LABELS.workload}=motor` })).items;
  const ready = (p: V1Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const edgeboxEvents = async (): Promise<CoreV1Event[]> =>
    [...(await core.listNamespacedEvent({ namespace: 'default' })).items, ...(await core.listNamespacedEvent({ namespace: NS })).items].filter(
      (e) => e.source?.component === 'edgebox-controller',
    );
  /** Nothing the controller owns changes on any node for `ms`: no taint, no bookkeeping, no Event. */
  const quietFor = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      for (const m of MODULES) {
        const n = await node(m);
        expect(tainted(n), `${m} tainted`).toBe(false);
        expect(n.metadata?.annotations?.[FENCE_ANNOTATIONS.failover], `${m} failover record`).toBeUndefined();
      }
      expect(await edgeboxEvents()).toEqual([]);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    box = await startBox(SPEC, { controlPlane: 'single' });
    spec = await fixture();
    core = box.kc.makeApiClient(CoreV1Api);
    await applyFixture(box, spec);
    const pod = await eventually(
      async () => {
        const p = (await motorPods()).find((x) => ready(x) && !x.metadata?.deletionTimestamp);
        expect(p).toBeTruthy();
        return p!;
      },
      { timeoutMs: 60_000, message: 'motor Ready' },
    );
    victim = pod.spec!.nodeName!;
    motorUid = pod.metadata!.uid!;
    survivor = victim === 'c1' ? 'c2' : 'c1';
    views = new AgentViews(box.kc, spec.metadata.name);
    for (const m of MODULES) await views.set(m, allReachable(m));
    views.start();
    controller = await runController(await serviceAccountKubeConfig(box.kc), spec, { id: 'it-controller', localDir: box.dir });
    await eventually(async () => expect(controller.running.leading).toBe(true), { timeoutMs: 15_000, message: 'the controller leads' });
  });
  afterAll(async () => {
    await controller?.running.stop();
    await views?.stop();
    await box?.stop();
  });

  it('a converged box: the status lists every module healthy and nothing is done', async () => {
    await eventually(
      async () => {
        const eb = (await box.kc
          .makeApiClient(CustomObjectsApi)
          .getClusterCustomObject({ group: 'edgebox.dev', version: 'v1alpha1', plural: 'edgeboxes', name: spec.metadata.name })) as {
          status?: { modules?: { name: string; health: string; role: string }[] };
        };
        expect(eb.status?.modules?.map((m) => `${m.name}:${m.health}:${m.role}`)).toEqual([
          'c1:Healthy:server',
          'c2:Healthy:agent',
          'c3:Healthy:agent',
          'c4:Healthy:agent',
        ]);
      },
      { timeoutMs: 15_000, message: 'EdgeBox status.modules' },
    );
    await quietFor(1500);
  });

  it('views say unreachable but the node Lease keeps being renewed: a partition between agents, nothing happens', async () => {
    // The witnesses last heard the victim 2 s before its kubelet (KWOK) last renewed: alive.
    const lastSeen = (await nodeLeaseRenewTime(box.kc, victim)) - 2000;
    for (const m of MODULES.filter((x) => x !== victim)) await views.set(m, withUnreachable(m, victim, lastSeen));
    await quietFor(5000);
    expect((await motorPods()).map((p) => p.metadata?.uid)).toEqual([motorUid]);
    for (const m of MODULES.filter((x) => x !== victim)) await views.set(m, allReachable(m));
  });

  it('the victim dead but only one agent says so: nothing happens', async () => {
    const killedAt = Date.now();
    await killModule(box.dir, victim);
    const witness = MODULES.find((m) => m !== victim)!;
    await views.set(witness, withUnreachable(witness, victim, killedAt));
    // Its view is the victim's own agent's, which died with it.
    views.silence(victim);
    await quietFor(5000);
    expect((await motorPods()).map((p) => p.metadata?.uid)).toEqual([motorUid]);
  });

  it('a quorum (2 of 3) says unreachable and the node Lease is stale: fenced, pods released, the singleton comes back elsewhere', async () => {
    const lastSeen = Date.now() - 5000;
    const witnesses = MODULES.filter((m) => m !== victim).slice(0, 2);
    for (const m of witnesses) await views.set(m, withUnreachable(m, victim, lastSeen));
    const start = Date.now();

    const fencedNode = await eventually(
      async () => {
        const n = await node(victim);
        expect(tainted(n)).toBe(true);
        expect(n.metadata?.annotations?.[FENCE_ANNOTATIONS.fenceMethod]).toBe('power');
        return n;
      },
      // Default timings: the 40 s node Lease counts as stale 21 s after its last renewal
      // (nodeLeaseStaleAfterMs), about 10 s from here.
      { timeoutMs: 30_000, intervalMs: 100, message: `${victim} fenced` },
    );
    console.info(`quorum views -> ${victim} fenced in ${Date.now() - start} ms`);
    expect(fencedNode.spec?.taints).toContainEqual(expect.objectContaining({ ...OUT_OF_SERVICE_TAINT }));
    expect(fencedNode.metadata?.annotations?.[FENCE_ANNOTATIONS.fenceCount]).toBe('1');
    // The local power driver's "off": the module is killed in the box state.
    expect((await readState(box.dir))?.killed).toEqual([victim]);

    // The old pod was force-deleted (gone, not Terminating), and the real ReplicaSet
    // controller and scheduler placed the replacement on the other capable module.
    const replacement = await eventually(
      async () => {
        const pods = await motorPods();
        expect(pods.map((p) => p.metadata?.uid)).not.toContain(motorUid);
        const p = pods.find((x) => ready(x) && !x.metadata?.deletionTimestamp);
        expect(p?.spec?.nodeName).toBe(survivor);
        return p!;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `motor Ready on ${survivor}` },
    );
    console.info(`quorum views -> motor Ready on ${replacement.spec?.nodeName} in ${Date.now() - start} ms`);

    const reasons = await eventually(
      async () => {
        const events = await edgeboxEvents();
        const r = events.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name} ${e.reason}`);
        expect(r).toEqual(
          expect.arrayContaining([
            `Node/${victim} ModuleFailed`,
            `Node/${victim} ModuleFenced`,
            `Node/${victim} PodsReleased`,
            'Deployment/motor PodsReleased',
          ]),
        );
        return r;
      },
      { timeoutMs: 10_000, message: 'Events on the node and the Deployment' },
    );
    // Each transition is reported once.
    expect(reasons.filter((r) => r.endsWith('ModuleFailed'))).toHaveLength(1);
    expect(reasons.filter((r) => r.endsWith('ModuleFenced'))).toHaveLength(1);

    await eventually(
      async () => {
        const eb = (await box.kc
          .makeApiClient(CustomObjectsApi)
          .getClusterCustomObject({ group: 'edgebox.dev', version: 'v1alpha1', plural: 'edgeboxes', name: spec.metadata.name })) as {
          status?: {
            modules?: { name: string; health: string; unreachableBy: string[] }[];
            failovers?: { module: string; method: string; witnesses: string[]; releasedAt?: string; readyAt?: string; durations: Record<string, number> }[];
          };
        };
        expect(eb.status?.modules?.find((m) => m.name === victim)).toMatchObject({ health: 'Fenced', unreachableBy: witnesses });
        const f = eb.status?.failovers?.find((x) => x.module === victim);
        expect(f).toMatchObject({ method: 'power', witnesses });
        expect(f?.readyAt).toBeTruthy();
        expect(f?.durations.total).toBeGreaterThan(0);
      },
      { timeoutMs: 15_000, message: 'the failover in the EdgeBox status' },
    );

    const metrics = await (await fetch(`http://127.0.0.1:${controller.running.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^edgebox_detections_total 1$/m);
    expect(metrics).toMatch(/^edgebox_fencings_total\{method="power"\} 1$/m);
    expect(metrics).toMatch(/^edgebox_leader 1$/m);
    expect(metrics).toMatch(/^edgebox_failover_seconds_count\{stage="released"\} 1$/m);
  });

  it('the module comes back: after the settle period the taint goes and it rejoins', async () => {
    await reviveModule(box.dir, victim);
    for (const m of MODULES) await views.set(m, allReachable(m));
    const n = await eventually(
      async () => {
        const x = await node(victim);
        expect(tainted(x)).toBe(false);
        return x;
      },
      { timeoutMs: 30_000, intervalMs: 200, message: `${victim} rejoined` },
    );
    expect(n.metadata?.annotations?.[FENCE_ANNOTATIONS.fenceMethod]).toBeUndefined();
    expect(n.metadata?.annotations?.[FENCE_ANNOTATIONS.fenceCount]).toBe('1');
    // The executor removes the taint first and records the Event after it: not yet there when the taint is gone.
    await eventually(async () => expect((await edgeboxEvents()).map((e) => e.reason)).toContain('ModuleRejoined'), {
      timeoutMs: 5_000,
      message: 'the ModuleRejoined Event',
    });
  });
});
