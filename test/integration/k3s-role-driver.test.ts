import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/agent/api/client.js';
import { readApiTarget } from '../../src/agent/api/kubeconfig.js';
import { createK3sDriver } from '../../src/agent/role/k3s-driver.js';
import { k3sRuntime } from '../../src/agent/self-fence/k3s-runtime.js';
import type { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import type { RoleDriver } from '../../src/contract/role-driver.js';
import { readState, type BoxState } from '../../src/local/box-state.js';
import { k3sPaths, readUnits, runningK3s } from '../../src/local/engine/k3s-engine.js';
import { localK3sModule } from '../../src/local/engine/k3s-host.js';
import { apiUrl } from '../../src/local/engine/k3s-plan.js';
import { killModule } from '../../src/local/failure-injection.js';
import { readServerRecord } from '../../src/local/server-layout.js';
import { loadSpec } from '../../src/spec/load.js';
import { initialServers } from '../../src/plan/control-plane.js';
import { memberRevisions } from './etcd-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

/**
 * The `k3s` role driver, unchanged, on real K3s servers (docs/decisions/0009-k3s-engine.md): the
 * command sequences of docs/runbooks/control-plane.md run through k3sModuleHost, which plays each
 * module's systemd and filesystem, against the box's `k3s server` processes; K3s does the etcd
 * work (learner join and promotion, member removal on the Node annotation, `--cluster-reset`).
 * examples/article-box.yaml: three initial servers (A, B, C below) and a spare that may serve and
 * starts as an agent. The steps depend on each other and run in order, as a box would live them.
 */

const SPEC = 'examples/article-box.yaml';
const spec = (await loadSpec(SPEC)).box;
const [A, B, C] = initialServers(spec).map((m) => m.name) as [string, string, string];
const SPARE = spec.spec.modules.find((m) => m.roles.includes('server') && ![A, B, C].includes(m.name))!.name;
const sorted = (...names: string[]) => [...names].sort();

describe('the k3s role driver on real K3s servers', () => {
  let box: Box;
  let state: BoxState;
  let core: CoreV1Api;
  let api: ApiClient;
  const figures: string[] = [];

  const address = (m: string) => state.k3s!.network.members[m]!.address;
  const target = (m: string) => ({ etcdEndpoints: [], apiServer: apiUrl(address(m)) });
  const drivers = new Map<string, RoleDriver>();
  /** What an agent on the module runs with `--role-driver k3s --local-dir` (built in beforeAll). */
  const driver = (m: string): RoleDriver => drivers.get(m)!;

  /** Every snapshot file of every module, by path, with its size: none may ever go missing. */
  async function snapshots(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const m of Object.keys(state.k3s!.network.members)) {
      const dir = join(k3sPaths(box.dir, m).dataDir, 'server', 'db', 'snapshots');
      for (const f of await readdir(dir).catch(() => [] as string[])) out.set(`${m}/${f}`, (await stat(join(dir, f))).size);
    }
    return out;
  }
  const expectKept = (before: Map<string, number>, after: Map<string, number>) => {
    for (const [f, size] of before) expect(after.get(f), `snapshot ${f}`).toBe(size);
  };

  const voters = async (m: string) => {
    const r = await driver(m).observe();
    return {
      healthy: r.healthy,
      names: (r.members ?? [])
        .filter((x) => !x.learner)
        .map((x) => x.name)
        .sort(),
    };
  };
  /** The test's objects as one member holds them: key@revision, sorted (etcd-helpers.ts). */
  const memberObjects = async (m: string): Promise<string> => {
    const kvs = await memberRevisions(state, m, '/registry/configmaps/default/');
    expect(kvs.length, `objects on ${m}`).toBeGreaterThanOrEqual(50);
    return kvs.join('\n');
  };
  const configMaps = async () => (await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'edgebox.dev/test=k3s-driver' })).items.length;
  const writeObjects = async (prefix: string, n: number) => {
    for (let i = 0; i < n; i++) {
      await core.createNamespacedConfigMap({
        namespace: 'default',
        body: { metadata: { name: `${prefix}-${i}`, labels: { 'edgebox.dev/test': 'k3s-driver' } }, data: { i: String(i) } },
      });
    }
  };
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    const r = await f();
    figures.push(`${what}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
    return r;
  };

  beforeAll(async () => {
    box = await startBox(SPEC, { engine: 'k3s' });
    state = (await readState(box.dir))!;
    core = box.kc.makeApiClient(CoreV1Api);
    api = new ApiClient(await readApiTarget(box.kubeconfigPath));
    for (const m of Object.keys(state.k3s!.network.members)) {
      const local = await localK3sModule(box.dir, m);
      drivers.set(
        m,
        createK3sDriver({ module: m, modules: local.modules, loadBox: async () => spec, runner: local.runner, etcd: local.etcd, api, pollMs: 1000 }),
      );
    }
    await writeObjects('seed', 20);
  }, 400_000);
  afterAll(async () => {
    process.stderr.write(`k3s role driver on real K3s (${state?.k3s?.version}):\n${figures.map((f) => `  ${f}`).join('\n')}\n`);
    await box?.stop();
  }, 120_000);

  it('observes the initial servers as healthy voters and the spare as an agent', async () => {
    for (const m of [A, B, C]) {
      await eventually(async () => expect(await voters(m)).toEqual({ healthy: true, names: sorted(A, B, C) }), {
        timeoutMs: 30_000,
        message: `${m} is a healthy voter`,
      });
    }
    expect(await driver(SPARE).observe()).toMatchObject({ role: 'agent', healthy: false });
  });

  it('promotes the spare through K3s (learner, then voter), with a snapshot on the server it joins first', async () => {
    const before = await snapshots();
    await timed('promote the spare (agent -> voter)', () => driver(SPARE).promote(target(A)));
    expect(await voters(SPARE)).toEqual({ healthy: true, names: sorted(A, B, C, SPARE) });
    const after = await snapshots();
    expectKept(before, after);
    expect([...after.keys()].filter((f) => f.startsWith(`${A}/edgebox-before-promote-${SPARE}`))).toHaveLength(1);
    // The token copy for the snapshot client is gone again.
    await expect(stat(join(k3sPaths(box.dir, SPARE).run, 'k3s-snapshot-client'))).rejects.toThrow();
    // Idempotent: a second promote of a voter changes nothing (the same K3s process, no new snapshot).
    const pid = (await readServerRecord(box.dir, SPARE)).k3s?.pid;
    await driver(SPARE).promote(target(A));
    expect((await readServerRecord(box.dir, SPARE)).k3s?.pid).toBe(pid);
    expect(await runningK3s(state)).toContain(SPARE);
    expect((await snapshots()).size).toBe(after.size);
  }, 400_000);

  it("removes the spare's member through K3s's Node annotation (a snapshot first), then demotes the spare keeping its snapshots", async () => {
    // K3s's etcd metadata controller annotates the Node of a server it runs; removal needs it.
    await eventually(
      async () => expect((await core.readNode({ name: SPARE })).metadata?.annotations?.['etcd.k3s.cattle.io/node-name']).toMatch(new RegExp(`^${SPARE}-`)),
      {
        timeoutMs: 30_000,
        message: "the spare's Node carries K3s's etcd annotations",
      },
    );
    const before = await snapshots();
    await timed('remove the spare member', () => driver(A).removeMember({ name: SPARE }));
    await timed('demote the spare', () => driver(SPARE).demote());
    expect(await voters(A)).toEqual({ healthy: true, names: sorted(A, B, C) });
    expect(await runningK3s(state)).not.toContain(SPARE);
    expect(await readUnits(box.dir, SPARE)).toEqual({ server: { enabled: false }, agent: { enabled: true, active: true } });
    const after = await snapshots();
    expectKept(before, after);
    expect([...after.keys()].filter((f) => f.startsWith(`${A}/edgebox-before-remove-${SPARE}`))).toHaveLength(1);
    // Its member data is gone, so it never rejoins stale.
    await expect(stat(join(k3sPaths(box.dir, SPARE).dataDir, 'server', 'db', 'etcd'))).rejects.toThrow();
  }, 400_000);

  it('a server killed: K3s removes its member, the spare is promoted again, three healthy voters and nothing lost', async () => {
    const before = await snapshots();
    await writeObjects('before-kill', 10);
    const start = Date.now();
    expect((await killModule(box.dir, C)).changed).toBe(true);
    await driver(A).removeMember({ name: C });
    await driver(SPARE).promote(target(A));
    figures.push(`one server killed -> 3 healthy voters (remove + promote): ${((Date.now() - start) / 1000).toFixed(1)} s`);
    expect(await voters(SPARE)).toEqual({ healthy: true, names: sorted(A, B, SPARE) });
    expect(await configMaps()).toBe(30);
    expectKept(before, await snapshots());
  }, 400_000);

  it('majority lost: a cluster reset on the survivor, the others rejoin one at a time; no object or snapshot lost', async () => {
    await writeObjects('before-loss', 10);
    const before = await snapshots();
    const start = Date.now();
    await killModule(box.dir, A);
    await killModule(box.dir, B);
    await eventually(async () => expect((await driver(SPARE).observe()).healthy).toBe(false), { timeoutMs: 30_000, message: 'the survivor lost its quorum' });
    const survivor = await driver(SPARE).observe();
    expect(survivor.raftIndex, 'the survivor has the data').toBeGreaterThan(0);

    await timed('cluster reset on the survivor (to a one-member cluster)', () => driver(SPARE).resetCluster());
    expect(await voters(SPARE)).toEqual({ healthy: true, names: [SPARE] });
    // Its API server comes up a few seconds after its etcd.
    await eventually(async () => expect(await configMaps()).toBe(40), { timeoutMs: 60_000, message: 'every object, through the reset server' });
    // The snapshot file the reset restored, and the data it restored over (K3s's etcd-old-<time>), both kept.
    const db = join(k3sPaths(box.dir, SPARE).dataDir, 'server', 'db');
    expect((await readdir(join(db, 'snapshots'))).filter((f) => /^edgebox-before-cluster-reset-\d+$/.test(f))).toHaveLength(1);
    expect((await readdir(db)).filter((f) => /^etcd-old-\d+$/.test(f))).toHaveLength(1);

    for (const m of [A, B]) await timed(`rejoin ${m}`, () => driver(m).promote(target(SPARE)));
    figures.push(`majority lost -> restored to 3 voters (reset + 2 rejoins): ${((Date.now() - start) / 1000).toFixed(1)} s`);
    expect(await voters(SPARE)).toEqual({ healthy: true, names: sorted(A, B, SPARE) });
    expect(await configMaps()).toBe(40);
    await writeObjects('after-restore', 10);
    // Every member holds every object at the same revision, as each member reads it itself: the
    // rejoined ones did not replay the survivor's log to other revisions (etcd issue 14009), so
    // the next quorum loss, whichever member survives it, keeps what the API acknowledged.
    await eventually(async () => expect(new Set(await Promise.all([SPARE, A, B].map(memberObjects))).size).toBe(1), {
      timeoutMs: 10_000,
      message: 'the same objects at the same revisions on every member',
    });
    const after = await snapshots();
    expectKept(before, after);
    for (const m of [A, B]) expect([...after.keys()].filter((f) => f.startsWith(`${SPARE}/edgebox-before-promote-${m}`))).toHaveLength(1);
  }, 600_000);

  it("self-fence on a real K3s server: the k3s runtime freezes K3s's main process and lifts it; the singletons' stop needs a containerd this box has not", async () => {
    const runtime = k3sRuntime((await localK3sModule(box.dir, SPARE)).runner);
    const pid = (await readServerRecord(box.dir, SPARE)).k3s!.pid;
    expect(await runtime.isFenced()).toBe(false);
    // Step 1 (SIGSTOP of K3s's main process) runs for real; step 2 asks K3s's crictl for the
    // singleton pods, and with `disable-agent` there is no containerd to answer.
    const f = await runtime.fence().then(
      () => undefined,
      (e: unknown) => e as EdgeboxError,
    );
    expect(f?.diagnostics[0]?.code).toBe('agent.self-fence-failed');
    expect(f?.diagnostics[0]?.message).toContain('crictl pods');
    expect((await readFile(`/proc/${pid}/stat`, 'utf8')).split(' ')[2], 'K3s is stopped (T)').toBe('T');
    // The frozen process is the state: an agent restarted now finds its module fenced.
    expect(await runtime.isFenced()).toBe(true);
    // The rest of the box keeps its quorum without it (its etcd member frozen too).
    await eventually(async () => expect((await voters(A)).healthy).toBe(true), {
      timeoutMs: 30_000,
      message: 'A and B keep a leader while the spare is frozen',
    });
    await runtime.lift();
    expect(await runtime.isFenced()).toBe(false);
    await eventually(async () => expect(await voters(SPARE)).toEqual({ healthy: true, names: sorted(A, B, SPARE) }), {
      timeoutMs: 60_000,
      message: 'the spare is a healthy voter again once lifted',
    });
  }, 120_000);
});
