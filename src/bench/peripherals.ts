import { runBench } from './cli.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { readState } from '../local/box-state.js';
import { down } from '../local/down.js';
import { freezeAgent, killController, killModule, reviveModule } from '../local/failure-injection.js';
import { healModules, isolateModule, partitionModules } from '../local/partition.js';
import { freeUdpPortOn } from '../local/ports.js';
import { silent } from '../local/progress.js';
import { ensureControllers } from '../local/self-healing.js';
import { localAddresses } from '../local/simulated-nodes.js';
import { up } from '../local/up.js';
import { checkHistory, grantSpans } from '../peripherals/check.js';
import { GrantPoller, type Endpoint } from '../peripherals/grant-client.js';
import type { LocatedRecord } from '../peripherals/history.js';
import { toPeripheralLease, type PeripheralLease } from '../peripherals/lease.js';
import { requestMove } from '../peripherals/move.js';
import { DEFAULT_PERIPHERAL_TIMINGS as T, peripheralLeaseName } from '../contract/peripherals.js';
import { historyFilesIn, readHistory } from '../peripherals/read-history.js';
import { loadSpec } from '../spec/load.js';
import { log, seconds as s } from './watch.js';
import { describeSimulation, FAULTS as INJECTED } from './simulation.js';
import { percentile, reportTargets } from './targets.js';
import { mulberry32 } from '../chaos/prng.js';
import { FENCE_ANNOTATIONS } from '../contract/fencing.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';

/**
 * `npm run bench:peripherals [-- --trials N] [--seed S] [--trials-per-box N]`
 *
 * Randomized trials on a local box with agents and a controller (test/fixtures/peripherals-box.yaml:
 * one exclusive CAN bus attached to four modules). A poller asks every attached module's agent
 * for a grant every 100 ms, as the bus's device wrapper would on each; every grant and release
 * lands in the agents' history files. Each trial injects one of:
 *   - kill the owner (its agent dies; the node stops heartbeating), then revive it;
 *   - isolate the owner (alive, cut off from its peers and the API), then heal it;
 *   - freeze the owner's agent (SIGSTOP) for 0.5-5 s: a slow module;
 *   - freeze a module that does not own it;
 *   - cut the owner from one peer (heartbeats only) for 2 s: must change nothing;
 *   - restart the controller (SIGKILL, then start again), half the time together with a kill of the owner;
 *   - a planned move to another attached module;
 * waits until one module grants again, and runs the history checker over everything so far.
 * Printed: overlapping grants and token regressions (target 0), and for each handover the time
 * from when the old owner was fenced to the new owner's first grant (p50/p95, target < 5 s),
 * from the fault, and the gap between the old owner's last valid grant and the new one's first.
 * The box is started afresh every `--trials-per-box` trials: fencing backoff doubles the settle
 * period of a module fenced again within the hour, and a fresh box starts that count over.
 * Targets: 0 overlaps, 0 token regressions, both handover p95 < 5 s, a minimum gap > 0; a miss
 * exits 1.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'test/fixtures/peripherals-box.yaml');
const TRIAL_DEADLINE_MS = 60_000;
const FAULTS = ['kill', 'isolate', 'freeze-owner', 'freeze-other', 'partition-pair', 'controller-restart', 'move'] as const;
type Fault = (typeof FAULTS)[number];
const WEIGHTS: Record<Fault, number> = { kill: 4, isolate: 3, 'freeze-owner': 3, 'freeze-other': 1, 'partition-pair': 1, 'controller-restart': 2, move: 2 };

interface Options {
  trials: number;
  seed: number;
  trialsPerBox: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { trials: 200, seed: Date.now() % 1_000_000, trialsPerBox: 40 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const n = Number(argv[++i]);
    if (!Number.isInteger(n) || n < (a === '--seed' ? 0 : 1)) throw new Error(`${a} needs a whole number`);
    if (a === '--trials') opts.trials = n;
    else if (a === '--seed') opts.seed = n;
    else if (a === '--trials-per-box') opts.trialsPerBox = n;
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

const stats = (xs: readonly number[]) => (xs.length ? { n: xs.length, p50: percentile(xs, 50), p95: percentile(xs, 95), max: Math.max(...xs) } : { n: 0 });

interface TrialResult {
  fault: Fault;
  from: string;
  to: string;
  handedOver: boolean;
  /** Fenced (out-of-service taint / power) -> the new owner's first grant, when the fence came first. */
  afterFenceMs?: number;
  /** When the handover became allowed (release confirmed; fenced and expired; expired plus margin) -> the new owner's first grant. */
  afterSafeMs?: number;
  fromFaultMs?: number;
  /** The old owner's last valid grant -> the new owner's first. */
  gapMs?: number;
  violations: number;
  error?: string;
}

class BenchBox {
  poller!: GrantPoller;
  endpoints: Endpoint[] = [];
  kc!: KubeConfig;

  constructor(
    readonly dir: string,
    readonly peripheral: string,
    readonly attached: string[],
  ) {}

  async start(): Promise<void> {
    const { box } = await loadSpec(FIXTURE);
    const r = await up(FIXTURE, {
      dir: this.dir,
      timings: 'tuned',
      withAgents: true,
      withController: true,
      controllers: 1,
      controlPlane: 'single',
      agentPort: await freeUdpPortOn(Object.values(localAddresses(box))),
    });
    this.kc = loadKubeConfig({ path: r.kubeconfig });
    await this.refresh();
    this.poller = new GrantPoller({ peripheral: this.peripheral, endpoints: () => this.endpoints, everyMs: 100 });
    this.poller.start();
  }

  async stop(): Promise<void> {
    this.poller?.stop();
    await healModules(this.dir).catch(() => undefined);
    await down(this.dir);
  }

  async refresh(): Promise<void> {
    const state = await readState(this.dir);
    this.endpoints = (state?.agents ?? [])
      .filter((a) => this.attached.includes(a.module))
      .map((a) => ({ module: a.module, base: `http://${a.address}:${a.httpPort}` }));
  }

  async lease(): Promise<PeripheralLease | undefined> {
    const raw = await this.kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: peripheralLeaseName(this.peripheral), namespace: SYSTEM_NAMESPACE })
      .catch(() => undefined);
    return raw ? toPeripheralLease(raw) : undefined;
  }

  /** The holder, once it grants with the Lease's token (asked within the last second). */
  async stable(deadlineMs: number): Promise<PeripheralLease> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const l = await this.lease();
      const g = l?.holder ? this.poller.lastGrant.get(l.holder) : undefined;
      if (l && g && g.token === l.token && Date.now() - g.at < 1000) return l;
      if (Date.now() > end)
        throw new Error(`no module granted ${this.peripheral} within ${s(deadlineMs)} (Lease: ${l?.holder ?? 'none'} token ${l?.token ?? '-'})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits for a grant with a token above `token`; returns who gave it. */
  async newOwner(token: number, deadlineMs: number): Promise<string> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      for (const [m, g] of this.poller.lastGrant) if (g.token > token) return m;
      if (Date.now() > end) throw new Error(`no new owner of ${this.peripheral} within ${s(deadlineMs)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Attached modules that could own it now: node Ready, not fenced (a fenced module settles before it rejoins). */
  async candidates(): Promise<string[]> {
    const nodes = (await this.kc.makeApiClient(CoreV1Api).listNode()).items;
    return this.attached.filter((m) => {
      const n = nodes.find((x) => x.metadata?.name === m);
      const ready = n?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      return ready && n?.metadata?.annotations?.[FENCE_ANNOTATIONS.fenceMethod] === undefined;
    });
  }

  /** When the module was fenced, if it is fenced now (by this trial or, still settling, an earlier one). */
  async fence(module: string): Promise<{ at: number; method: string } | undefined> {
    const n = await this.kc
      .makeApiClient(CoreV1Api)
      .readNode({ name: module })
      .catch(() => undefined);
    const method = n?.metadata?.annotations?.[FENCE_ANNOTATIONS.fenceMethod];
    const t = Date.parse(n?.metadata?.annotations?.[FENCE_ANNOTATIONS.fencedAt] ?? '');
    return method === undefined || Number.isNaN(t) ? undefined : { at: t, method };
  }

  async history(): Promise<LocatedRecord[]> {
    return readHistory(await historyFilesIn(this.dir));
  }
}

function pick(r: () => number): Fault {
  const total = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  let x = r() * total;
  for (const f of FAULTS) {
    x -= WEIGHTS[f];
    if (x < 0) return f;
  }
  return 'kill';
}

const MOVES: readonly Fault[] = ['kill', 'isolate', 'move'];

async function trial(b: BenchBox, wanted: Fault, r: () => number): Promise<TrialResult> {
  const before = await b.stable(TRIAL_DEADLINE_MS);
  const owner = before.holder!;
  // A fault that moves ownership needs somewhere to move it: a module fenced by an earlier trial
  // is still settling (the settle period doubles for each fence within the hour).
  let ready: string[] = [];
  for (const end = Date.now() + TRIAL_DEADLINE_MS; Date.now() < end; await new Promise((res) => setTimeout(res, 250))) {
    ready = (await b.candidates()).filter((m) => m !== owner);
    if (ready.length || !MOVES.includes(wanted)) break;
  }
  const fault: Fault = ready.length || !MOVES.includes(wanted) ? wanted : 'freeze-other';
  const others = b.attached.filter((m) => m !== owner);
  const other = fault === 'move' ? ready[Math.floor(r() * ready.length)]! : others[Math.floor(r() * others.length)]!;
  const t0 = Date.now();
  let expectHandover = false;
  switch (fault) {
    case 'kill':
      expectHandover = true;
      await killModule(b.dir, owner);
      break;
    case 'isolate':
      expectHandover = true;
      await isolateModule(b.dir, owner);
      break;
    case 'freeze-owner':
      await freezeAgent(b.dir, owner, 500 + Math.floor(r() * 4500));
      break;
    case 'freeze-other':
      await freezeAgent(b.dir, other, 500 + Math.floor(r() * 4500));
      break;
    case 'partition-pair':
      await partitionModules(b.dir, [owner], { from: [other] });
      await new Promise((res) => setTimeout(res, 2000));
      await healModules(b.dir, { module: owner });
      break;
    case 'controller-restart': {
      const withKill = r() < 0.5;
      await killController(b.dir, 'controller-1');
      if (withKill) {
        expectHandover = true;
        await killModule(b.dir, owner);
      }
      await new Promise((res) => setTimeout(res, 500 + Math.floor(r() * 2000)));
      await ensureControllers(b.dir, 1, silent);
      break;
    }
    case 'move':
      expectHandover = true;
      await requestMove(b.kc, b.peripheral, other);
      break;
  }
  let firstNew: number | undefined;
  let fence: { at: number; method: string } | undefined;
  try {
    if (expectHandover) {
      await b.newOwner(before.token, TRIAL_DEADLINE_MS);
      // Read before the fault is undone: a revived module rejoins and loses its fence.
      fence = await b.fence(owner);
    }
  } finally {
    // Undo the fault whatever happened, so the next trial starts from a whole box.
    if (fault === 'kill' || (fault === 'controller-restart' && expectHandover)) {
      await reviveModule(b.dir, owner);
      await b.refresh();
    }
    if (fault === 'isolate') await healModules(b.dir, { module: owner });
  }
  const after = await b.stable(TRIAL_DEADLINE_MS);
  const to = after.holder!;
  const records = await b.history();
  const check = checkHistory(records);
  const result: TrialResult = { fault, from: owner, to, handedOver: after.token > before.token, violations: check.violations.length };
  if (result.handedOver) {
    const spans = grantSpans(records);
    firstNew = Math.min(...spans.filter((x) => x.token > before.token).map((x) => x.start));
    const old = spans.filter((x) => x.token === before.token && x.module === owner);
    if (old.length) result.gapMs = firstNew - Math.max(...old.map((x) => x.end));
    result.fromFaultMs = firstNew - t0;
    fence ??= await b.fence(owner);
    // A fence from an earlier trial (the module still settling) counts from this fault.
    const fencedNow = fence === undefined ? undefined : Math.max(fence.at, t0);
    if (fencedNow !== undefined && fencedNow <= firstNew) result.afterFenceMs = firstNew - fencedNow;
    // The controller's rule (src/peripherals/ownership.ts), from what the history shows: the
    // agent's last grant ends `grantMarginMs` before its lease expires.
    const released = records.find((x) => x.kind === 'release' && x.module === owner && x.token === before.token && x.reason === 'release-confirmed');
    if (old.length) {
      const expiry = Math.max(...old.map((x) => x.end)) + T.grantMarginMs;
      const safeAt = Math.min(
        released?.atMs ?? Number.POSITIVE_INFINITY,
        expiry + T.handoverMarginMs,
        fence?.method === 'power' ? fencedNow! : fencedNow !== undefined ? Math.max(fencedNow, expiry) : Number.POSITIVE_INFINITY,
      );
      result.afterSafeMs = firstNew - safeAt;
    }
  }
  return result;
}

async function main(opts: Options): Promise<void> {
  const { box } = await loadSpec(FIXTURE);
  const p = box.spec.peripherals.find((x) => x.exclusive)!;
  const r = mulberry32(opts.seed);
  log(`bench:peripherals: ${opts.trials} trials, seed ${opts.seed}, a fresh box every ${opts.trialsPerBox} trials (${FIXTURE})`);
  const results: TrialResult[] = [];
  let b: BenchBox | undefined;
  let dir: string | undefined;
  const byKind = { overlap: 0, 'token-regression': 0 };
  const stopAll = async () => {
    await b?.stop().catch((e: Error) => log(`  could not stop the box: ${e.message}`));
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    for (let i = 0; i < opts.trials; i++) {
      if (i % opts.trialsPerBox === 0) {
        if (b) await stopAll();
        dir = await mkdtemp(join(tmpdir(), 'edgebox-bench-peripherals-'));
        b = new BenchBox(dir, p.name, p.attachedTo);
        log(`  box ${Math.floor(i / opts.trialsPerBox) + 1}: starting in ${dir}`);
        await b.start();
        if (i === 0) {
          const state = await readState(dir);
          const faults = [INJECTED.kill, INJECTED.isolate, INJECTED.freezeAgent, INJECTED.partitionPeer, INJECTED.controllerRestart, INJECTED.move];
          if (state) for (const line of describeSimulation(state, faults)) log(`    ${line}`);
        }
      }
      const fault = pick(r);
      let res: TrialResult;
      try {
        res = await trial(b!, fault, r);
      } catch (e) {
        res = { fault, from: '-', to: '-', handedOver: false, violations: 0, error: (e as Error).message };
      }
      const check = checkHistory(await b!.history());
      res.violations = check.violations.length;
      if (check.violations.length) {
        for (const v of check.violations)
          log(
            `    VIOLATION ${v.kind} ${v.peripheral}: ${v.first.module} t${v.first.token} ${v.first.file}:${v.first.line} / ${v.second.module} t${v.second.token} ${v.second.file}:${v.second.line}`,
          );
      }
      results.push(res);
      log(
        `  ${String(i + 1).padStart(3)} ${res.fault.padEnd(18)} ${res.from} -> ${res.to}${res.handedOver ? ` after safe ${s(res.afterSafeMs)}, after fence ${s(res.afterFenceMs)}, from fault ${s(res.fromFaultMs)}, gap ${s(res.gapMs)}` : ''}` +
          `${res.violations ? `  ${res.violations} VIOLATION(S)` : ''}${res.error ? `  ERROR ${res.error}` : ''}`,
      );
      // The history is cumulative per box: its last check counts every violation once.
      if (i % opts.trialsPerBox === opts.trialsPerBox - 1 || i === opts.trials - 1) {
        for (const v of check.violations) byKind[v.kind]++;
      }
    }
  } finally {
    await stopAll();
  }
  report(results, byKind);
}

function report(results: readonly TrialResult[], byKind: { overlap: number; 'token-regression': number }): void {
  const handovers = results.filter((x) => x.handedOver);
  const line = (name: string, xs: number[]) => {
    const st = stats(xs);
    return st.n ? `${name.padEnd(34)} n=${String(st.n).padEnd(4)} p50 ${s(st.p50)}  p95 ${s(st.p95)}  max ${s(st.max)}` : `${name.padEnd(34)} n=0`;
  };
  log('');
  log(`trials: ${results.length} (${FAULTS.map((f) => `${f} ${results.filter((x) => x.fault === f).length}`).join(', ')})`);
  log(`errors (a trial that did not settle within ${s(TRIAL_DEADLINE_MS)}): ${results.filter((x) => x.error).length}`);
  log(`handovers: ${handovers.length}`);
  log(`overlapping grants: ${byKind.overlap}, token regressions: ${byKind['token-regression']} (the checker over every box's whole history)`);
  const afterFence = handovers.flatMap((x) => (x.afterFenceMs !== undefined ? [x.afterFenceMs] : []));
  const afterSafe = handovers.flatMap((x) => (x.afterSafeMs !== undefined ? [x.afterSafeMs] : []));
  const gaps = handovers.flatMap((x) => (x.gapMs !== undefined ? [x.gapMs] : []));
  log(line('handover after fencing (fence first)', afterFence));
  log(line('handover after it became safe', afterSafe));
  log(
    line(
      'handover from the fault',
      handovers.flatMap((x) => (x.fromFaultMs !== undefined ? [x.fromFaultMs] : [])),
    ),
  );
  log(line('gap: old last valid -> new first', gaps));
  log(
    line(
      'planned move: request -> new grant',
      handovers.filter((x) => x.fault === 'move').flatMap((x) => (x.fromFaultMs !== undefined ? [x.fromFaultMs] : [])),
    ),
  );
  const p95s = (ms: number[]) =>
    percentile(
      ms.map((x) => x / 1000),
      95,
    );
  reportTargets([
    { name: 'overlapping grants', measured: byKind.overlap, bound: 0, unit: '', comparison: '=' },
    { name: 'token regressions', measured: byKind['token-regression'], bound: 0, unit: '', comparison: '=' },
    { name: 'handover after fencing, p95', measured: p95s(afterFence), bound: 5, unit: 's', comparison: '<' },
    { name: 'handover after it became safe, p95', measured: p95s(afterSafe), bound: 5, unit: 's', comparison: '<' },
    // The old owner stopped before the new one started.
    { name: 'smallest gap: old last valid -> new first', measured: gaps.length ? Math.min(...gaps) : undefined, bound: 0, unit: 'ms', comparison: '>' },
  ]);
}

await runBench('bench:peripherals', '[--trials N] [--seed S] [--trials-per-box N]', parseArgs, main);
