import { runBench } from './cli.js';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { applyBox } from '../apply/apply.js';
import { Cluster } from '../apply/cluster.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { readState } from '../local/box-state.js';
import { down } from '../local/down.js';
import { freezeAgent, killModule, reviveModule } from '../local/failure-injection.js';
import { healModules, partitionModules } from '../local/partition.js';
import { freeUdpPortOn } from '../local/ports.js';
import { KWOK_SELECTOR, localAddresses } from '../local/simulated-nodes.js';
import { up } from '../local/up.js';
import { ENGINES, type EngineName } from '../local/engine/engine.js';
import { LABELS } from '../contract/labels.js';
import { loadSpec } from '../spec/load.js';
import { failoverMs, measureBaseline, reportBaseline, type Run } from './baseline.js';
import { describeSimulation, FAULTS } from './simulation.js';
import { percentile, reportTargets } from './targets.js';
import { keepWatching, log, seconds as s, until, type RawObject } from './watch.js';
import { coreApi, isReady } from '../kube/client.js';

/**
 * `npm run bench:failover [-- --kills N] [--skip-baseline] [--false-fencing-seconds S] [--engine process,k3s]`
 *
 * On a local box with agents and a controller (test/fixtures/failover-box.yaml, each workload
 * with two capable modules of its own, settle period 0 so that the module killed last rejoins at
 * once and the next kill can move the workload back):
 *
 * 1. For a critical Deployment, a StatefulSet and a singleton, N kills each (default 20) of the
 *    module the workload runs on: the time from the kill to the replacement pod Ready, both
 *    taken from watch events as they arrive (the kill is the node event that drops KWOK's
 *    heartbeat label, the end the pod event showing a pod of the workload Ready on another
 *    module), as in `bench:failover-baseline`. The module is revived and waited for (taint
 *    removed, Ready) before the next kill. p50, p95, max per workload.
 * 2. False fencing: for a fixed time, one module cut off from one peer (iptables) and another
 *    one's agent repeatedly frozen (SIGSTOP) for 60% of the detection window. Every fencing is a
 *    false one; the target is 0.
 * 3. The stock-Kubernetes baseline, measured in the same run with `bench:failover-baseline`'s
 *    code (src/bench/baseline.ts: one kill with Kubernetes' default timings, then one with
 *    render's tuned timings), and the ratio to the self-healing figures. `--skip-baseline` for
 *    quick runs.
 *
 * Targets (issue 15): p95 from the kill to the replacement Ready <= 5 s for the critical
 * Deployment, <= 10 s for the StatefulSet, <= 6 s for the singleton; 0 false fencings. A miss
 * exits 1.
 *
 * A run that fails stops the box but keeps its directory: the components' logs and the nodes,
 * pods, Leases and Events as they were (`box/evidence/*.json`).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'test/fixtures/failover-box.yaml');
const WORKLOADS = [
  { name: 'detector', kind: 'critical Deployment', targetP95Ms: 5000 },
  { name: 'recorder', kind: 'StatefulSet', targetP95Ms: 10_000 },
  { name: 'motor', kind: 'singleton Deployment', targetP95Ms: 6000 },
] as const;
const OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';
/** Per kill: far above the target, so a slow one is measured rather than aborting the run. */
const FAILOVER_DEADLINE_MS = 120_000;
const REJOIN_DEADLINE_MS = 120_000;

interface Options {
  kills: number;
  skipBaseline: boolean;
  falseFencingSeconds: number;
  /** Run one after the other, their figures side by side. */
  engines: EngineName[];
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { kills: 20, skipBaseline: false, falseFencingSeconds: 120, engines: ['process'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a positive whole number`);
      return n;
    };
    if (a === '--engine') {
      const engines = (argv[++i] ?? '').split(',');
      if (!engines.every((e): e is EngineName => (ENGINES as readonly string[]).includes(e)))
        throw new Error(`--engine takes ${ENGINES.join(', ')} or both, comma-separated`);
      opts.engines = engines;
    } else if (a === '--skip-baseline') opts.skipBaseline = true;
    else if (a === '--kills') opts.kills = num();
    else if (a === '--false-fencing-seconds') opts.falseFencingSeconds = num();
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// What the watches saw

interface PodSeen {
  /** A StatefulSet's replacement has the old pod's name: only the uid tells them apart. */
  uid: string;
  workload: string;
  node?: string;
  ready: boolean;
  terminating: boolean;
}

interface NodeSeen {
  killed: boolean;
  ready: boolean;
  fenced: boolean;
}

/** Pods and nodes as the watches last showed them, and hooks for the moments being timed. */
class Observed {
  readonly pods = new Map<string, PodSeen>();
  readonly nodes = new Map<string, NodeSeen>();
  /** Out-of-service taints added (a fencing), by node, with arrival times. */
  readonly fencings: { node: string; at: number }[] = [];
  onPod: (name: string, p: PodSeen, at: number) => void = () => {};
  onNode: (name: string, n: NodeSeen, at: number) => void = () => {};

  pod(type: string, obj: RawObject, at: number): void {
    const name = obj.metadata.name as string;
    const p: PodSeen = {
      uid: obj.metadata.uid as string,
      workload: obj.metadata.labels?.[LABELS.workload] ?? '',
      ...(obj.spec?.nodeName ? { node: obj.spec.nodeName as string } : {}),
      ready: isReady(obj),
      terminating: Boolean(obj.metadata.deletionTimestamp),
    };
    if (type === 'DELETED') this.pods.delete(name);
    else this.pods.set(name, p);
    this.onPod(name, p, at);
  }

  node(type: string, obj: RawObject, at: number): void {
    const name = obj.metadata.name as string;
    const n: NodeSeen = {
      killed: obj.metadata.labels?.[KWOK_SELECTOR.key] === undefined,
      ready: isReady(obj),
      fenced: (obj.spec?.taints ?? []).some((t: { key: string }) => t.key === OUT_OF_SERVICE),
    };
    const was = this.nodes.get(name);
    if (n.fenced && was && !was.fenced) this.fencings.push({ node: name, at });
    if (type === 'DELETED') this.nodes.delete(name);
    else this.nodes.set(name, n);
    this.onNode(name, n, at);
  }

  readyPods(workload: string): [string, PodSeen][] {
    return [...this.pods.entries()].filter(([, p]) => p.workload === workload && p.ready && !p.terminating);
  }

  /**
   * The pods as a fresh list has them. A watch that restarts without a resourceVersion (after
   * 410 Gone) adds what exists but never removes what was deleted meanwhile.
   */
  resetPods(items: RawObject[], at: number): void {
    this.pods.clear();
    for (const o of items) this.pod('ADDED', o, at);
  }

  describe(workload: string): string {
    const pods = [...this.pods.entries()].filter(([, p]) => p.workload === workload);
    return pods.map(([n, p]) => `${n} on ${p.node ?? '-'}${p.ready ? ' ready' : ''}${p.terminating ? ' terminating' : ''}`).join(', ') || 'no pods';
  }
}

/** Until the workload has exactly one Ready pod; re-lists the pods once if the watch alone does not show it. */
async function oneReadyPod(kubeconfig: string, namespace: string, seen: Observed, workload: string): Promise<void> {
  const what = `one Ready pod of ${workload}`;
  const done = () => seen.readyPods(workload).length === 1;
  const first = await until(what, done, { deadlineMs: 15_000, signal: interrupted.signal, pollMs: 20 }).then(
    () => true,
    (e: Error) => {
      if (interrupted.signal.aborted) throw e;
      return false;
    },
  );
  if (first) return;
  log(`    not seen in 15 s (${seen.describe(workload)}): re-listing the pods`);
  const list = await coreApi(kubeconfig).listNamespacedPod({ namespace });
  seen.resetPods(list.items as RawObject[], Date.now());
  await until(what, done, { deadlineMs: FAILOVER_DEADLINE_MS, signal: interrupted.signal, pollMs: 20, status: () => seen.describe(workload) });
}

// ---------------------------------------------------------------------------------------------
// 1. Kills

/** One kill of the module `workload` runs on: ms from the kill event to the replacement Ready event. */
async function killOnce(
  dir: string,
  seen: Observed,
  workload: string,
  kubeconfig: string,
  namespace: string,
): Promise<{ ms: number; from: string; to: string }> {
  await oneReadyPod(kubeconfig, namespace, seen, workload);
  const [, victim] = seen.readyPods(workload)[0]!;
  const module = victim.node!;
  let killAt: number | undefined;
  let readyAt: number | undefined;
  let to = '';
  seen.onNode = (name, n, at) => {
    if (name === module && n.killed) killAt ??= at;
  };
  seen.onPod = (_name, p, at) => {
    if (killAt === undefined || p.uid === victim.uid || p.workload !== workload) return;
    if (p.ready && !p.terminating && p.node && p.node !== module && readyAt === undefined) {
      readyAt = at;
      to = p.node;
    }
  };
  await killModule(dir, module);
  await until(`a replacement of ${workload} Ready off ${module}`, () => readyAt !== undefined, {
    deadlineMs: FAILOVER_DEADLINE_MS,
    signal: interrupted.signal,
    pollMs: 20,
  });
  seen.onNode = () => {};
  seen.onPod = () => {};
  await reviveModule(dir, module);
  // Settle 0 in the bench spec: the taint goes as soon as the controller sees the module healthy.
  await until(
    `${module} to rejoin`,
    () => {
      const n = seen.nodes.get(module);
      return n !== undefined && !n.killed && n.ready && !n.fenced;
    },
    { deadlineMs: REJOIN_DEADLINE_MS, signal: interrupted.signal, pollMs: 20 },
  );
  return { ms: readyAt! - killAt!, from: module, to };
}

interface Stats {
  n: number;
  p50: number;
  p95: number;
  max: number;
}

function stats(samples: readonly number[]): Stats {
  return { n: samples.length, p50: percentile(samples, 50) ?? NaN, p95: percentile(samples, 95) ?? NaN, max: Math.max(...samples) };
}

// ---------------------------------------------------------------------------------------------
// 2. False fencing

interface FalseFencing {
  seconds: number;
  partitioned: string;
  from: string;
  slow: string;
  freezeMs: number;
  freezes: number;
  fencings: { node: string; at: number }[];
  podsReplaced: number;
}

async function falseFencingRun(dir: string, seen: Observed, detectionMs: number, durationS: number): Promise<FalseFencing> {
  await until('every workload Ready', () => WORKLOADS.every((w) => seen.readyPods(w.name).length === 1), {
    deadlineMs: FAILOVER_DEADLINE_MS,
    signal: interrupted.signal,
    pollMs: 20,
  });
  const partitioned = seen.readyPods('motor')[0]![1].node!;
  const from = partitioned === 'core-1' ? 'core-2' : 'core-1';
  const slow = seen.readyPods('detector')[0]![1].node!;
  const podsBefore = new Set([...seen.pods.values()].map((p) => p.uid));
  const fencingsBefore = seen.fencings.length;
  const freezeMs = Math.round(detectionMs * 0.6);
  log(
    `\n== false fencing: ${partitioned} cut off from ${from}, ${slow}'s agent frozen for ${s(freezeMs)} of every ${s(freezeMs + detectionMs)}, for ${durationS} s`,
  );
  await partitionModules(dir, [partitioned], { from: [from] });
  let freezes = 0;
  try {
    const end = Date.now() + durationS * 1000;
    while (Date.now() < end) {
      if (interrupted.signal.aborted) throw new Error('interrupted');
      await freezeAgent(dir, slow, freezeMs);
      freezes++;
      await new Promise((r) => setTimeout(r, detectionMs));
    }
    // Anything the controller decided at the very end still shows up.
    await new Promise((r) => setTimeout(r, 3000));
  } finally {
    await healModules(dir, { module: partitioned });
  }
  const podsNow = new Set([...seen.pods.values()].map((p) => p.uid));
  const podsReplaced = [...podsBefore].filter((uid) => !podsNow.has(uid)).length;
  return { seconds: durationS, partitioned, from, slow, freezeMs, freezes, fencings: seen.fencings.slice(fencingsBefore), podsReplaced };
}

// ---------------------------------------------------------------------------------------------
// 3. Baseline

interface Baseline {
  defaultMs: number;
  tunedMs: number;
}

/** The stock-Kubernetes yardstick, measured in this run: the same kill with default, then tuned timings. */
async function baseline(): Promise<Baseline> {
  log('\n== stock-Kubernetes baseline (about 7 minutes: one kill with default timings, one with tuned)');
  const runs: Run[] = [];
  for (const timings of ['default', 'tuned'] as const) runs.push(await measureBaseline(timings, interrupted.signal));
  reportBaseline(runs);
  return { defaultMs: failoverMs(runs[0])!, tunedMs: failoverMs(runs[1])! };
}

// ---------------------------------------------------------------------------------------------

/** The fixture with settle 0 and a free UDP port, written beside the box. */
async function benchSpec(dir: string): Promise<string> {
  const doc = parseDocument(await readFile(FIXTURE, 'utf8'));
  const { box } = await loadSpec(FIXTURE);
  doc.setIn(['spec', 'failover', 'settleSeconds'], 0);
  doc.setIn(['spec', 'failover', 'port'], await freeUdpPortOn(Object.values(localAddresses(box))));
  const file = join(dir, 'failover-bench.yaml');
  await writeFile(file, `# bench:failover: ${FIXTURE} with settleSeconds 0 and a free port\n${doc.toString()}`);
  return file;
}

async function selfHealing(opts: Options, engine: EngineName): Promise<{ results: Map<string, number[]>; falseFencing: FalseFencing }> {
  const dir = await mkdtemp(join(tmpdir(), 'edgebox-bench-failover-'));
  const watches = new AbortController();
  let failed = false;
  try {
    const spec = await benchSpec(dir);
    const { box } = await loadSpec(spec);
    const detectionMs = box.spec.failover.heartbeatIntervalMs * box.spec.failover.missedHeartbeats;
    log(
      `== self-healing, engine ${engine}: ${box.spec.modules.length} modules, heartbeat ${box.spec.failover.heartbeatIntervalMs} ms x ${box.spec.failover.missedHeartbeats} (detection ${detectionMs} ms), settle 0 s, tuned timings`,
    );
    const boxDir = join(dir, 'box');
    const started = await up(spec, {
      dir: boxDir,
      timings: 'tuned',
      withAgents: true,
      withController: true,
      // The K3s engine runs the spec's servers (a killed core module takes its K3s server with it);
      // the process engine, one API server for the box on no module.
      ...(engine === 'k3s' ? { engine } : { controlPlane: 'single' as const }),
      progress: (l) => log(`  ${l.trim()}`),
    });
    for (const line of describeSimulation(started.state, [FAULTS.kill, `false fencing: ${FAULTS.partitionPeer}, and ${FAULTS.freezeAgent}`])) log(`  ${line}`);
    const kc = loadKubeConfig({ path: started.kubeconfig });
    await applyBox({ box, cluster: new Cluster(kc) });
    const seen = new Observed();
    keepWatching(kc, `/api/v1/namespaces/${box.metadata.name}/pods`, {}, (t, o, at) => seen.pod(t, o, at), watches.signal);
    keepWatching(kc, '/api/v1/nodes', {}, (t, o, at) => seen.node(t, o, at), watches.signal);

    const results = new Map<string, number[]>();
    for (const w of WORKLOADS) {
      log(`\n== ${w.name} (${w.kind}): ${opts.kills} kills`);
      const samples: number[] = [];
      for (let i = 1; i <= opts.kills; i++) {
        const r = await killOnce(boxDir, seen, w.name, started.kubeconfig, box.metadata.name);
        samples.push(r.ms);
        log(`  kill ${String(i).padStart(2)}: ${r.from} -> ${r.to} Ready in ${s(r.ms)}`);
      }
      results.set(w.name, samples);
    }
    const falseFencing = await falseFencingRun(boxDir, seen, detectionMs, opts.falseFencingSeconds);
    const state = await readState(boxDir);
    log(
      `\n  (processes: ${state?.agents?.length ?? 0} agents, ${state?.controllers?.length ?? 0} controller; logs in ${boxDir}/logs until the box is removed)`,
    );
    return { results, falseFencing };
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    watches.abort();
    const boxDir = join(dir, 'box');
    // A failed run keeps what explains it: the components' logs and the objects as they were.
    if (failed) await keepEvidence(boxDir);
    const stopped = await down(boxDir);
    log(`  stopped ${stopped.stopped.length} processes`);
    if (failed) log(`  kept ${dir} for inspection (box/logs, box/evidence); remove it with rm -rf ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

/** Nodes, pods, Leases and Events of the box, as JSON under `<box>/evidence`; best effort. */
async function keepEvidence(boxDir: string): Promise<void> {
  const state = await readState(boxDir).catch(() => undefined);
  if (!state) return;
  const out = join(boxDir, 'evidence');
  await mkdir(out, { recursive: true });
  const kc = loadKubeConfig({ path: join(boxDir, 'kubeconfig') });
  const core = kc.makeApiClient(CoreV1Api);
  const lists: [string, () => Promise<unknown>][] = [
    ['nodes', () => core.listNode()],
    ['pods', () => core.listPodForAllNamespaces()],
    ['events', () => core.listEventForAllNamespaces()],
    ['leases', () => kc.makeApiClient(CoordinationV1Api).listLeaseForAllNamespaces()],
  ];
  for (const [name, list] of lists) {
    await list().then(
      (l) => writeFile(join(out, `${name}.json`), JSON.stringify(l, null, 2)),
      (e: Error) => log(`  could not keep ${name}: ${e.message}`),
    );
  }
}

interface EngineRun {
  engine: EngineName;
  results: Map<string, number[]>;
  falseFencing: FalseFencing;
}

function report(runs: readonly EngineRun[], base: Baseline | undefined): void {
  log('\nfailover: seconds from the kill of a module to the replacement pod Ready (watch events), by engine');
  log(`  ${'engine'.padEnd(9)}${'workload'.padEnd(32)}${'n'.padStart(4)}${'p50'.padStart(10)}${'p95'.padStart(10)}${'max'.padStart(10)}`);
  for (const { engine, results } of runs) {
    for (const w of WORKLOADS) {
      const st = stats(results.get(w.name)!);
      log(
        `  ${engine.padEnd(9)}${`${w.name} (${w.kind})`.padEnd(32)}${String(st.n).padStart(4)}${s(st.p50).padStart(10)}${s(st.p95).padStart(10)}${s(st.max).padStart(10)}`,
      );
    }
  }
  for (const { engine, falseFencing: ff } of runs) {
    log(
      `\nfalse fencing (${engine}): ${ff.fencings.length} fencing(s) in ${ff.seconds} s (target 0) with ${ff.partitioned} cut off from ${ff.from} and ${ff.slow}'s agent frozen ${ff.freezes} times for ${s(ff.freezeMs)}; pods replaced: ${ff.podsReplaced}`,
    );
    for (const f of ff.fencings) log(`  fenced ${f.node} at ${new Date(f.at).toISOString()}`);
  }
  if (!base) log('\nbaseline skipped (--skip-baseline)');
  else for (const { engine, results } of runs) reportRatio(base, stats(results.get('detector') ?? [0]), engine);
  reportTargets(
    runs.flatMap(({ engine, results, falseFencing }) => [
      ...WORKLOADS.map((w) => ({
        name: `${engine}: ${w.name} (${w.kind}): kill -> replacement Ready, p95`,
        measured: percentile(
          (results.get(w.name) ?? []).map((ms) => ms / 1000),
          95,
        ),
        bound: w.targetP95Ms / 1000,
        unit: 's',
        comparison: '<=' as const,
      })),
      { name: `${engine}: false fencings`, measured: falseFencing.fencings.length, bound: 0, unit: '', comparison: '=' as const },
    ]),
  );
}

function reportRatio(base: Baseline, deployment: Stats, engine: EngineName): void {
  log(`\n${engine}: stock Kubernetes (default timings): ${s(base.defaultMs)}; render's tuned timings without edgebox's controller: ${s(base.tunedMs)}`);
  log(
    `  the critical Deployment fails over ${(base.defaultMs / deployment.p50).toFixed(0)}x faster than stock at p50 (${(base.defaultMs / deployment.p95).toFixed(0)}x at p95), ${(base.tunedMs / deployment.p50).toFixed(0)}x faster than tuned alone at p50`,
  );
  log('  (stock Kubernetes never replaces the StatefulSet pod on its own: see ../shared/notes/failover-facts.md)');
}

const interrupted = new AbortController();
// Ctrl-C stops the waiting; the `finally` blocks then stop the box, so nothing is left behind.
process.once('SIGINT', () => interrupted.abort());
await runBench('bench:failover', '[--kills N] [--skip-baseline] [--false-fencing-seconds S] [--engine process,k3s]', parseArgs, async (opts) => {
  const runs: EngineRun[] = [];
  for (const engine of opts.engines) runs.push({ engine, ...(await selfHealing(opts, engine)) });
  const base = opts.skipBaseline ? undefined : await baseline();
  report(runs, base);
});
