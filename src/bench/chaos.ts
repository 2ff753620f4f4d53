import { runBench } from './cli.js';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChaosBox } from '../chaos/box.js';
import { describeFault, drawTrial, faultKinds, K3S_UNPLAYED } from '../chaos/faults.js';
import type { EngineName } from '../local/engine/engine.js';
import { runTrial, type TrialOutcome } from '../chaos/trial.js';
import { DEFAULT_POD_START } from '../local/kwok-stages.js';
import { log, seconds as s } from './watch.js';
import { percentile, reportTargets } from './targets.js';

/**
 * `npm run bench:chaos -- --trials N --seed S [--trial K] [--out DIR] [--engine process|k3s]`
 *
 * The seeded chaos runner (src/chaos, docs/chaos.md): on a local box with agents and two
 * controllers (test/fixtures/chaos-box.yaml), each trial draws one fault from the menu with a
 * PRNG seeded by (seed, trial), injects it while a client writes and readers record, lifts it,
 * and the checker judges the trial's history. One line per trial; violations with the replay
 * command; exit 1 on any violation or missed recovery target. The box is reused between trials
 * once it is healthy again, and started afresh when it cannot be made healthy.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'test/fixtures/chaos-box.yaml');
/** After the last heal: every node Ready, the voters, a controller leader, every workload Ready. */
const RECOVERY_TARGET_MS = 30_000;
/** A fence is false when the module renewed throughout this long before it: detection (1 s) plus the controller's and power's slack. */
const RENEW_WINDOW_MS = 10_000;
/** Between trials: how long the box may take to be healthy before it is replaced. */
const RESTORE_DEADLINE_MS = 60_000;

interface Options {
  trials: number;
  seed: number;
  trial?: number;
  out?: string;
  engine: EngineName;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { trials: 20, seed: 1, engine: 'process' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = argv[++i];
    if (a === '--out') {
      if (!value) throw new Error('--out needs a directory');
      opts.out = value;
      continue;
    }
    if (a === '--engine') {
      if (value !== 'process' && value !== 'k3s') throw new Error('--engine is process or k3s');
      opts.engine = value;
      continue;
    }
    const n = Number(value);
    if (!Number.isInteger(n) || n < (a === '--trials' ? 1 : 0)) throw new Error(`${a} needs a whole number`);
    if (a === '--trials') opts.trials = n;
    else if (a === '--seed') opts.seed = n;
    else if (a === '--trial') opts.trial = n;
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

async function main(opts: Options): Promise<number> {
  const out = opts.out ? resolve(opts.out) : await mkdtemp(join(tmpdir(), `edgebox-chaos-seed-${opts.seed}-`));
  await mkdir(out, { recursive: true });
  const trials = opts.trial !== undefined ? [opts.trial] : Array.from({ length: opts.trials }, (_, i) => i + 1);
  log(`bench:chaos: seed ${opts.seed}, ${opts.trial !== undefined ? `trial ${opts.trial} only` : `${opts.trials} trials`}; histories and logs in ${out}`);
  log(
    `  simulated: 5 modules as KWOK nodes (pods start after ${DEFAULT_POD_START.minMs / 1000}-${DEFAULT_POD_START.maxMs / 1000} s, as a container on an SoC module), 3 etcd voters with fsync on,`,
  );
  log(`  agents with their own wall clocks (libfaketime), 2 controllers, a client writing ConfigMaps every 100 ms, a device polling the CAN bus`);
  const kinds = faultKinds(opts.engine);
  if (opts.engine === 'k3s') {
    log(`  engine k3s: every server module a real \`k3s server\` in a network namespace of its own, the agents' k3s role driver`);
    log(
      `  not played on k3s: ${Object.entries(K3S_UNPLAYED)
        .map(([k, why]) => `${k} (${why})`)
        .join('; ')}`,
    );
  }
  log(`  fault kinds (${kinds.length}): ${kinds.join(', ')}`);
  log(`  targets: 0 violations; healthy within ${s(RECOVERY_TARGET_MS)} of the last heal`);
  let box: ChaosBox | undefined;
  const outcomes: TrialOutcome[] = [];
  const stop = async () => {
    await box?.stop().catch((e: Error) => log(`  could not stop the box: ${e.message}`));
    box = undefined;
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    for (const k of trials) {
      const restoreStart = Date.now();
      if (box) {
        const h = await box.restore(RESTORE_DEADLINE_MS);
        if (!h.healthy) {
          log(`  the box is not healthy ${s(RESTORE_DEADLINE_MS)} after restoring it (${h.missing.join('; ')}): starting a fresh one`);
          await stop();
        }
      }
      if (!box) {
        const t0 = Date.now();
        box = await ChaosBox.start(FIXTURE, (l) => log(`    ${l.trim()}`), opts.engine);
        const h = await box.restore(RESTORE_DEADLINE_MS);
        if (!h.healthy) throw new Error(`a fresh box is not healthy after ${s(RESTORE_DEADLINE_MS)}: ${h.missing.join('; ')}`);
        log(`  box started in ${s(Date.now() - t0)} (${box.dir})`);
      }
      const restoreMs = Date.now() - restoreStart;
      const plan = drawTrial(
        opts.seed,
        k,
        { modules: box.box.spec.modules.map((m) => m.name), servers: (await box.state()).controlPlane.initialServers },
        kinds,
      );
      const o = await runTrial(box, plan, { out, recoveryTargetMs: RECOVERY_TARGET_MS, renewWindowMs: RENEW_WINDOW_MS });
      outcomes.push(o);
      const v = o.verdict;
      log(
        `  seed ${opts.seed} trial ${String(k).padStart(3)}  ${plan.faults.map(describeFault).join(', ').padEnd(52)}  ${v.violations.length ? `${v.violations.length} VIOLATION(S)` : 'ok'}` +
          `  recovery ${s(v.recoveryMs ?? undefined)}  acked ${v.acked}  (trial ${s(o.ms)}, restore before it ${s(restoreMs)})`,
      );
      for (const e of o.errors) log(`      error: ${e}`);
      for (const x of v.violations) log(`      VIOLATION ${x.kind}: ${x.message}`);
      if (v.violations.length)
        log(`      replay: npm run bench:chaos -- --seed ${opts.seed} --trial ${k}${replayEngine(opts)}   (history: ${join(out, `trial-${k}`)})`);
    }
  } finally {
    await stop();
  }
  return report(opts, outcomes);
}

/** A trial's draw depends on the menu, so a replay names the engine. */
const replayEngine = (opts: Options) => (opts.engine === 'process' ? '' : ` --engine ${opts.engine}`);

function report(opts: Options, outcomes: readonly TrialOutcome[]): number {
  const bad = outcomes.filter((o) => o.verdict.violations.length > 0);
  const recoveries = outcomes.flatMap((o) => (o.verdict.recoveryMs !== null ? [o.verdict.recoveryMs] : [])).sort((a, b) => a - b);
  const kinds = new Map<string, number>();
  for (const o of outcomes) for (const f of o.plan.faults) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
  log('');
  log(`trials: ${outcomes.length}, with violations: ${bad.length} (target 0), acknowledged writes: ${outcomes.reduce((n, o) => n + o.verdict.acked, 0)}`);
  log(`faults: ${[...kinds.entries()].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (recoveries.length)
    log(`recovery after the last heal: p50 ${s(percentile(recoveries, 50))}  p95 ${s(percentile(recoveries, 95))}  max ${s(recoveries.at(-1))}`);
  for (const o of bad)
    log(
      `  seed ${opts.seed} trial ${o.plan.trial}: ${o.verdict.violations.map((v) => v.kind).join(', ')}  -> npm run bench:chaos -- --seed ${opts.seed} --trial ${o.plan.trial}${replayEngine(opts)}`,
    );
  // Every violation is a miss, a missed recovery included (the checker counts it as one).
  return reportTargets([{ name: 'trials with a violation', measured: bad.length, bound: 0, unit: '', comparison: '=' }]) ? 0 : 1;
}

await runBench('bench:chaos', '[--trials N] [--seed S] [--trial K] [--out DIR] [--engine process|k3s]', parseArgs, async (o) => {
  process.exitCode = await main(o);
});
