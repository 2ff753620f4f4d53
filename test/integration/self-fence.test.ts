import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRuntimeRecords } from '../../src/agent/self-fence/local-runtime.js';
import type { AgentHealth } from '../../src/agent/heartbeat/http-endpoint.js';
import { applyBox } from '../../src/apply/apply.js';
import { Cluster } from '../../src/apply/cluster.js';
import { SELF_FENCE_MARGIN_MS } from '../../src/controller/model.js';
import { readState } from '../../src/local/box-state.js';
import { healModules, isolateModule, listCuts } from '../../src/local/partition.js';
import { runtimeFile } from '../../src/local/self-healing.js';
import { LABELS } from '../../src/contract/labels.js';
import { loadSpec } from '../../src/spec/load.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { edgebox, ROOT } from './apply-helpers.js';
import { eventually, startBox, type Box } from './harness.js';
import { FENCED_TAINT } from '../../src/contract/taints.js';
import { FENCE_ANNOTATIONS } from '../../src/contract/fencing.js';
import { SYSTEM_NAMESPACE, agentLeaseName } from '../../src/contract/leases.js';

const SPEC = join(ROOT, 'test/fixtures/self-fence-box.yaml');
const NS = 'fence-cell';
const OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';

/**
 * Self-fencing (docs/decisions/0001-self-healing.md): a module fenced by the taint alone, alive
 * but cut off from its peers and the API, stops its singleton itself within the bound, and the
 * controller lets the replacement start only after that bound (plus its margin) has passed since
 * the module's agent last renewed its Lease.
 */
describe('self-fencing of a module cut off from its peers and the API', () => {
  let box: Box;
  let spec: BoxSpec;
  let isolated: string | undefined;

  beforeAll(async () => {
    spec = (await loadSpec(SPEC)).box;
    box = await startBox(SPEC, { timings: 'tuned', withAgents: true, withController: true, controlPlane: 'single' });
    await applyBox({ box: spec, cluster: new Cluster(box.kc) });
  });
  afterAll(async () => {
    if (isolated) await healModules(box.dir).catch(() => undefined);
    await box?.stop();
  });

  const core = () => box.kc.makeApiClient(CoreV1Api);
  const motorPods = async () => (await core().listNamespacedPod({ namespace: NS, labelSelector: `${LABELS.workload}=motor` })).items;
  const health = async (module: string): Promise<AgentHealth> => {
    const a = (await readState(box.dir))!.agents!.find((x) => x.module === module)!;
    return (await (await fetch(`http://${a.address}:${a.httpPort}/healthz`)).json()) as AgentHealth;
  };

  it('isolate: the agent fences itself within the bound, the controller taints and releases only after it, heal: it rejoins', async () => {
    const boundMs = spec.spec.failover.selfFenceSeconds * 1000;
    const running = await eventually(
      async () => {
        const ready = (await motorPods()).filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
        expect(ready).toHaveLength(1);
        return ready[0]!;
      },
      { timeoutMs: 60_000, intervalMs: 250, message: 'motor Ready' },
    );
    const victim = running.spec!.nodeName!;
    const oldPod = `${NS}/${running.metadata!.name!}`;
    // The agent has been publishing: its Lease is fresh before the cut.
    expect((await health(victim)).apiReachable).toBe(true);

    const cutAt = Date.now();
    isolated = victim;
    // Through the CLI, as helpers and users run it.
    const iso = await edgebox(['local', 'isolate', victim, '--dir', box.dir]);
    expect(iso.code, iso.stderr).toBe(0);
    // The rules are in place once the command returned (it starts a Node process first).
    const cutDone = Date.now();
    expect(iso.stdout).toContain(`${victim} is cut off from everything (peers, etcd, API)`);
    expect(await listCuts(box.dir)).toEqual([{ kind: 'isolate', module: victim }]);
    const status = await edgebox(['local', 'status', '--dir', box.dir, '-o', 'json']);
    expect((JSON.parse(status.stdout) as { cuts: unknown[] }).cuts).toEqual([{ kind: 'isolate', module: victim }]);
    // Idempotent.
    expect((await isolateModule(box.dir, victim)).changed).toEqual([]);

    // 1. The controller fences the module by the taint at once, but holds its singleton (which
    //    tolerates the taint) while the module may still run it.
    const node = await eventually(
      async () => {
        const n = await core().readNode({ name: victim });
        expect(n.spec?.taints?.some((t) => t.key === OUT_OF_SERVICE)).toBe(true);
        return n;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `${victim} tainted` },
    );
    const taintSeenAt = Date.now();
    const fencedAt = Date.parse(node.metadata!.annotations![FENCE_ANNOTATIONS.fencedAt]!);
    expect(node.metadata!.annotations![FENCE_ANNOTATIONS.fenceMethod]).toBe('taint');
    // NoSchedule too: the singleton tolerates the out-of-service taint, its replacement must not land here.
    expect(node.spec?.taints?.some((t) => t.key === FENCED_TAINT.key && t.effect === 'NoSchedule')).toBe(true);

    // 2. The module stops its singleton by itself: bound + one check + a loaded machine. Until it
    //    has, no replacement exists: checked on every poll, and once more right after the record.
    const file = runtimeFile(box.dir, victim);
    const stop = await eventually(
      async () => {
        const offVictim = (await motorPods()).filter((p) => p.spec?.nodeName !== victim);
        const s = (await readRuntimeRecords(file)).find((r) => r.action === 'stop');
        expect(
          offVictim.map((p) => p.metadata?.name),
          'a replacement before the module stopped its copy',
        ).toEqual([]);
        expect(s).toBeDefined();
        return s!;
      },
      { timeoutMs: boundMs + 15_000, intervalMs: 100, message: `${victim} records its self-fence` },
    );
    const stopAt = Date.parse(stop.at);
    // (Its /healthz says so too, but an isolated module answers nobody: the record is the proof.)
    expect(stop.pods).toEqual([oldPod]);

    // The agent's last successful write: its Lease stopped being renewed at the cut.
    const lease = await box.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: SYSTEM_NAMESPACE, name: agentLeaseName(victim) });
    const renewedAt = new Date(lease.spec!.renewTime!).getTime();
    // No write gets through once the rules are in: its renewTime is stamped before it is sent.
    expect(renewedAt).toBeLessThanOrEqual(cutDone);
    // Never before the bound since that write. The agent counts from the write's start, a moment
    // before it stamps renewTime (a re-read first, after a failed write): hence the small slack.
    expect(stopAt - renewedAt).toBeGreaterThan(boundMs - 250);
    const deadline = renewedAt + boundMs + SELF_FENCE_MARGIN_MS;
    expect(stopAt).toBeLessThan(deadline);

    // 3. The replacement runs on the other capable module, created no earlier than the deadline.
    const replacement = await eventually(
      async () => {
        const ready = (await motorPods()).filter(
          (p) => p.spec?.nodeName !== victim && !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        expect(ready).toHaveLength(1);
        return ready[0]!;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'motor Ready off the isolated module' },
    );
    const readyAt = Date.now();
    const createdAt = new Date(replacement.metadata!.creationTimestamp!).getTime();
    expect(
      (await motorPods()).filter((p) => p.spec?.nodeName === victim).map((p) => p.metadata?.name),
      'nothing scheduled back onto the fenced module',
    ).toEqual([]);
    // creationTimestamp keeps whole seconds.
    expect(createdAt).toBeGreaterThanOrEqual(Math.floor(deadline / 1000) * 1000);
    console.info(
      `self-fence: ${victim} cut at 0 (rules in at +${cutDone - cutAt} ms); tainted +${fencedAt - cutAt} ms (seen +${taintSeenAt - cutAt} ms); agent Lease last renewed ${renewedAt - cutAt} ms; ` +
        `self-fenced +${stopAt - cutAt} ms (${stopAt - renewedAt} ms after its last write, bound ${boundMs} ms); singleton release deadline +${deadline - cutAt} ms ` +
        `(${deadline - stopAt} ms after the self-fence); replacement created ${new Date(createdAt).toISOString()} (+${createdAt - cutAt} ms, whole seconds) on ${replacement.spec!.nodeName}, Ready seen +${readyAt - cutAt} ms`,
    );

    // 4. Heal: the module hears its peers and reaches the API; it lifts its fence, and the
    //    controller removes the taint after the settle period.
    const healAt = Date.now();
    const healed = await edgebox(['local', 'heal', victim, '--dir', box.dir]);
    expect(healed.code, healed.stderr).toBe(0);
    expect(healed.stdout).toContain(`healed ${victim} (isolated)`);
    isolated = undefined;
    expect(await listCuts(box.dir)).toEqual([]);
    await eventually(
      async () => {
        expect((await health(victim)).selfFenced).toBeNull();
        expect((await readRuntimeRecords(file)).at(-1)?.action).toBe('resume');
      },
      { timeoutMs: 20_000, intervalMs: 100, message: `${victim} lifts its self-fence` },
    );
    const liftedAt = Date.now();
    await eventually(
      async () => {
        const n = await core().readNode({ name: victim });
        expect(n.spec?.taints?.some((t) => t.key === OUT_OF_SERVICE) ?? false).toBe(false);
        expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      },
      { timeoutMs: 60_000, intervalMs: 200, message: `${victim} rejoined (taint removed)` },
    );
    const rejoinedAt = Date.now();
    expect(rejoinedAt - healAt).toBeGreaterThanOrEqual(spec.spec.failover.settleSeconds * 1000);
    console.info(
      `self-fence: healed at 0; fence lifted +${liftedAt - healAt} ms; taint removed +${rejoinedAt - healAt} ms (settle ${spec.spec.failover.settleSeconds} s)`,
    );
  }, 180_000);
});
