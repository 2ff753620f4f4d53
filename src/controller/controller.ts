import type { Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Log } from '../base/log.js';
import type { BoxSpec } from '../spec/schema.js';
import { decide, type Action } from './decide.js';
import { EventRecorder } from './events.js';
import { Executor } from './executor.js';
import { BoxInformers } from './informers.js';
import type { InformerTimings } from '../kube/resilient-informer.js';
import { LeaderElector, type ElectionTimings } from './leader-election.js';
import { ControllerMetrics, serveMetrics } from './metrics.js';
import type { PowerDriver, PowerSpec } from '../power/driver.js';
import { StatusWriter } from './status.js';
import { PassRunner } from './pass-runner.js';
import { PeripheralReconciler } from './peripherals/reconciler.js';
import { DEFAULT_PERIPHERAL_TIMINGS, type PeripheralTimings } from '../contract/peripherals.js';
import { Guardian } from './guardian/guardian.js';

/**
 * `edgebox controller`: leader election, informers, and the reconcile loop that feeds their state
 * to decide() and its actions to the executor. Every replica keeps its informers warm; only the
 * leader decides, and only while every informer is synced.
 */

export interface ControllerOptions {
  kc: KubeConfig;
  box: BoxSpec;
  /** Leader-election identity. */
  id: string;
  log: Log;
  /** The power driver of each power spec (src/power); without it a power fence fails and the taint fences instead. */
  drivers?: (p: PowerSpec) => PowerDriver;
  /** Where /metrics is served. Port 0 takes a free one. */
  metrics: { host: string; port: number };
  election?: ElectionTimings;
  informers?: InformerTimings;
  /** Between passes when nothing changes (time alone moves views to stale and settle periods on). Default 250 ms. */
  resyncMs?: number;
  now?: () => number;
  /** The monotonic clock every age is measured on (src/kube/observed-time.ts). Default: performance.now. */
  mono?: () => number;
  /**
   * A pass that runs longer than this is given up: it acts no more, and a new one starts. Every
   * request has its own timeout (src/kube/api-client.ts); this catches whatever else hangs. Default 30 s.
   */
  stallMs?: number;
  /** Ownership Lease timings of exclusive peripherals. Default DEFAULT_PERIPHERAL_TIMINGS. */
  peripheralTimings?: PeripheralTimings;
}

export interface RunningController {
  /** Where /metrics listens (the port chosen when 0 was asked for). */
  metricsPort: number;
  readonly leading: boolean;
  /** Stops acting, releases the leader Lease, stops the informers and the metrics server. */
  stop(): Promise<void>;
}

/** A write not yet seen by the informers is waited for this long before deciding anyway (its precondition protects it). */
const OWN_WRITE_WAIT_MS = 2000;
/** The status is rewritten at most this often unless something was done. */
const STATUS_EVERY_MS = 1000;

export async function startController(o: ControllerOptions): Promise<RunningController> {
  const now = o.now ?? Date.now;
  const mono = o.mono ?? (() => performance.now());
  const metrics = new ControllerMetrics();
  const server: Server = await serveMetrics(metrics, o.metrics);
  const address = server.address();
  const metricsPort = typeof address === 'object' && address ? address.port : o.metrics.port;

  const events = new EventRecorder(o.kc, { id: o.id, log: o.log, now });
  const executor = new Executor({ kc: o.kc, box: o.box, log: o.log, events, metrics, ...(o.drivers ? { drivers: o.drivers } : {}), now });
  const status = new StatusWriter(o.kc, { box: o.box.metadata.name, log: o.log });
  const guardian = new Guardian({ kc: o.kc, log: o.log, events, metrics, now });
  const peripherals = new PeripheralReconciler({
    kc: o.kc,
    box: o.box.metadata.name,
    log: o.log,
    events,
    metrics,
    timings: o.peripheralTimings ?? DEFAULT_PERIPHERAL_TIMINGS,
    now,
    mono,
  });

  let paused: string | undefined;
  let lastStatus = 0;
  /** Our writes the informers have not shown yet: node -> resourceVersion, and deleted pods. */
  let pending: { nodes: Map<string, string>; pods: { namespace: string; name: string; uid: string }[]; since: number } | undefined;

  const informers = new BoxInformers({
    kc: o.kc,
    box: o.box.metadata.name,
    log: o.log,
    mono,
    onChange: () => runner.kick(),
    ...(o.informers ? { timings: o.informers } : {}),
  });
  const elector = new LeaderElector({
    kc: o.kc,
    id: o.id,
    log: o.log,
    now,
    ...(o.election ? { timings: o.election } : {}),
    onChange: (leading) => {
      metrics.leader.set(leading ? 1 : 0);
      if (leading) runner.kick();
    },
  });

  const pause = (why: string | undefined) => {
    if (why !== paused) o.log('info', why ? 'not deciding' : 'deciding again', why ? { why } : {});
    paused = why;
  };

  async function pass(live: () => boolean): Promise<void> {
    if (!live()) return;
    const view = informers.snapshot();
    // Never decide on state older than the informers' last list or event: after a dropped
    // watch, wait until every informer has listed again.
    if (!view) return pause('the informers are not synced (starting, or re-listing after a dropped watch)');
    if (pending) {
      const seen =
        [...pending.nodes].every(([n, rv]) => informers.nodeVersion(n) === rv) && pending.pods.every((p) => !informers.hasPod(p.namespace, p.name, p.uid));
      if (!seen && now() - pending.since < OWN_WRITE_WAIT_MS) return;
      pending = undefined;
    }
    pause(undefined);
    const observed = { now: now(), mono: mono(), since: informers.since, box: o.box, ...view };
    const actions = decide(observed);
    const results = await Promise.all(actions.map((a) => act(a, live)));
    const nodes = new Map(results.flatMap((r) => [...r.nodes]));
    const pods = results.flatMap((r) => r.pods);
    // Control-plane membership (src/controller/guardian), on the same snapshot; it leaves alone the nodes just written.
    const guarded = await guardian.pass({ ...observed, reports: informers.controlPlaneReports() }, live, new Set(nodes.keys()));
    for (const [n, rv] of guarded.nodes) nodes.set(n, rv);
    if (nodes.size || pods.length) pending = { nodes, pods, since: now() };
    // Exclusive peripherals: one owner each (src/controller/peripherals), on the same snapshot.
    const owned = await peripherals.pass({ ...observed, timings: peripherals.timings, leases: informers.peripheralLeases() }, live);
    if (!live()) return;
    if (actions.length || owned.acted || guarded.acted || now() - lastStatus >= STATUS_EVERY_MS) {
      lastStatus = now();
      const wrote = await status.write(observed, owned.status, guardian.status).then(
        () => true,
        (e: Error) => {
          o.log('warn', 'could not write the EdgeBox status', { error: e.message });
          return false;
        },
      );
      if (wrote) await guardian.written();
    }
  }

  async function act(a: Action, live: () => boolean) {
    // Leadership is checked before every action: one that was lost mid-pass stops the rest (as
    // does the pass being given up as stalled).
    if (!live()) return { nodes: new Map<string, string>(), pods: [] };
    try {
      return await executor.execute(a);
    } catch (e) {
      o.log('error', 'action failed; it is decided again on the next pass', { action: a.type, module: a.module, error: (e as Error).message });
      return { nodes: new Map<string, string>(), pods: [] };
    }
  }

  const runner = new PassRunner({
    run: pass,
    leading: () => elector.leading,
    mono,
    stallMs: o.stallMs ?? 30_000,
    onError: (e) => o.log('error', 'reconcile pass failed', { error: e.message }),
    onStall: (runningMs) => {
      metrics.stalledPasses.inc();
      o.log('error', 'reconcile pass stalled: given up, starting a new one', { runningMs: Math.round(runningMs) });
    },
  });

  informers.start();
  elector.start();
  const resync = setInterval(() => runner.kick(), o.resyncMs ?? 250);
  o.log('info', 'controller started', { id: o.id, box: o.box.metadata.name, metricsPort });

  return {
    metricsPort,
    get leading() {
      return elector.leading;
    },
    async stop() {
      runner.stop();
      clearInterval(resync);
      // Finish what is under way before handing over: the next leader starts from its result.
      await runner.current;
      await elector.stop();
      metrics.leader.set(0);
      await informers.stop();
      await new Promise<void>((closed) => {
        server.close(() => closed());
        server.closeAllConnections();
      });
      o.log('info', 'controller stopped', { id: o.id });
    },
  };
}
