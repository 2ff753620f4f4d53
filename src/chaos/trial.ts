import { copyFile, mkdir, open, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GrantPoller, type Endpoint } from '../peripherals/grant-client.js';
import { reviveModule } from '../local/failure-injection.js';
import { CONTROLLERS, type ChaosBox } from './box.js';
import { checkTrial, type CheckOptions, type TrialVerdict } from './check.js';
import { describeFault, type TrialPlan } from './faults.js';
import { toLine } from './history.js';
import { inject } from './inject.js';
import { Recorder } from './recorder.js';

/**
 * One trial: the recorders start, the fault is injected at its time, held, lifted; then every
 * module a fence powered off is powered on again (the runner stands in for whoever would), also
 * during the recovery window, and the box is sampled until healthy or the recovery target has
 * passed. The writes are
 * read back, the agents' grant histories taken, and the checker judges the whole history.
 * The history and the box's logs of the trial's time go to `<out>/trial-<K>/`.
 */

export interface TrialOutcome {
  plan: TrialPlan;
  verdict: TrialVerdict;
  /** A fault that could not be injected or lifted (the trial then proves less; said so). */
  errors: string[];
  ms: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where the grant poller asks: the agents of the peripheral's modules, as the box state has them now. */
async function grantEndpoints(b: ChaosBox, attached: readonly string[]): Promise<Endpoint[]> {
  const state = await b.state();
  return (state.agents ?? []).filter((a) => attached.includes(a.module)).map((a) => ({ module: a.module, base: `http://${a.address}:${a.httpPort}` }));
}

export async function runTrial(b: ChaosBox, plan: TrialPlan, o: CheckOptions & { out: string }): Promise<TrialOutcome> {
  const start = Date.now();
  const errors: string[] = [];
  const logOffsets = await logSizes(join(b.dir, 'logs'));
  const rec = new Recorder(b.kc, await b.state(), plan.trial);
  // A device wrapper on each attached module asks its agent for a grant every 100 ms, as in
  // bench:peripherals: the grant histories are what proves exclusivity.
  const pollers = b.box.spec.peripherals
    .filter((p) => p.exclusive)
    .map((p) => {
      let endpoints: Endpoint[] = [];
      const refresh = async () => void (endpoints = await grantEndpoints(b, p.attachedTo).catch(() => endpoints));
      return { poller: new GrantPoller({ peripheral: p.name, endpoints: () => endpoints, everyMs: 100 }), refresh };
    });
  for (const p of pollers) await p.refresh();
  const refresher = setInterval(() => void Promise.all(pollers.map((p) => p.refresh())), 1000);
  for (const p of pollers) p.poller.start();
  rec.start();
  // Modules a fence powered off: powered on again, as part of the repair.
  const powerOn = async () => {
    for (const m of (await b.state()).killed) await reviveModule(b.dir, m).catch((e: Error) => errors.push(`reviving ${m}: ${e.message.split('\n')[0]}`));
  };
  try {
    for (const [i, f] of plan.faults.entries()) {
      await sleep(Math.max(0, start + f.atMs - Date.now()));
      try {
        // The fault starts as the injection does: its record starts there too.
        const at = Date.now();
        const injected = await inject(f, { dir: b.dir, controllers: CONTROLLERS });
        rec.add({
          type: 'inject',
          t: at,
          fault: i,
          kind: f.kind,
          targets: injected.targets,
          notRenewing: injected.notRenewing,
          ...(injected.detail ? { detail: injected.detail } : {}),
          ...(injected.clockOffsetMs !== undefined ? { clockOffsetMs: injected.clockOffsetMs } : {}),
        });
        await sleep(f.holdMs);
        await injected.lift().catch((e: Error) => errors.push(`lifting ${describeFault(f)}: ${e.message.split('\n')[0]}`));
      } catch (e) {
        errors.push(`injecting ${describeFault(f)}: ${(e as Error).message.split('\n')[0]}`);
      }
      rec.add({ type: 'heal', t: Date.now(), fault: i });
    }
    await powerOn();
    const healedAt = Date.now();
    rec.add({ type: 'healed', t: healedAt });
    while (Date.now() - healedAt <= o.recoveryTargetMs) {
      // A fence decided before the heal may still power a module off after it (and off again
      // while it boots): powered on again each time, as the one-shot repair above.
      await powerOn();
      const h = await b.health(await b.state());
      rec.add({ type: 'health', t: Date.now(), healthy: h.healthy, missing: h.missing });
      rec.add({ type: 'etcd', t: Date.now(), members: h.etcd });
      if (h.healthy) break;
      await sleep(500);
    }
    // A moment of writes on the recovered box, then the read-back.
    await sleep(1000);
  } finally {
    clearInterval(refresher);
    for (const p of pollers) p.poller.stop();
    await rec.stop();
  }
  await readBack(rec, errors);
  await rec.grants(start);
  const verdict = checkTrial(rec.events, o);
  const dir = join(o.out, `trial-${plan.trial}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'history.jsonl'), `${rec.events.map(toLine).join('\n')}\n`);
  await writeFile(join(dir, 'plan.json'), `${JSON.stringify({ ...plan, errors, verdict }, null, 2)}\n`);
  await copyLogTails(join(b.dir, 'logs'), join(dir, 'logs'), logOffsets);
  return { plan, verdict, errors, ms: Date.now() - start };
}

/** The read-back, retried while the API comes back; without it the checker reports the writes unproven. */
async function readBack(rec: Recorder, errors: string[]): Promise<void> {
  const end = Date.now() + 20_000;
  for (;;) {
    try {
      return await rec.readBack();
    } catch (e) {
      if (Date.now() > end) return void errors.push(`read-back: ${(e as Error).message}`);
      await sleep(1000);
    }
  }
}

async function logSizes(dir: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const f of await readdir(dir).catch(() => [])) sizes.set(f, (await stat(join(dir, f)).catch(() => undefined))?.size ?? 0);
  return sizes;
}

/** Each log's bytes written since `from` (the trial's share of logs the box keeps across trials). */
async function copyLogTails(dir: string, to: string, from: Map<string, number>): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const f of await readdir(dir).catch(() => [])) {
    const offset = from.get(f) ?? 0;
    if (offset === 0) {
      await copyFile(join(dir, f), join(to, f)).catch(() => undefined);
      continue;
    }
    const h = await open(join(dir, f), 'r').catch(() => undefined);
    if (!h) continue;
    try {
      const size = (await h.stat()).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      await h.read(buf, 0, buf.length, offset);
      await writeFile(join(to, f), buf);
    } finally {
      await h.close();
    }
  }
}
