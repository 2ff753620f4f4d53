import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { FENCE_ANNOTATIONS } from '../contract/fencing.js';
import { parseDocument } from 'yaml';
import { applyBox } from '../apply/apply.js';
import { Cluster } from '../apply/cluster.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { resumeApiservers } from '../local/api-hang.js';
import { readState, type BoxState } from '../local/box-state.js';
import { down } from '../local/down.js';
import { reviveModule } from '../local/failure-injection.js';
import { setClockOffset } from '../local/module-clock.js';
import { healModules } from '../local/partition.js';
import { freeUdpPortOn } from '../local/ports.js';
import { signalProcesses } from '../local/processes.js';
import { silent, type Progress } from '../local/progress.js';
import { ensureAgents, ensureControllers } from '../local/self-healing.js';
import { readServerRecord } from '../local/server-layout.js';
import { localAddresses } from '../local/simulated-nodes.js';
import { up } from '../local/up.js';
import type { EngineName } from '../local/engine/engine.js';
import { loadSpec } from '../spec/load.js';
import type { BoxSpec } from '../spec/schema.js';
import { sampleHealth, type Health } from './health.js';
import { Recorder } from './recorder.js';

/**
 * The chaos runner's box: a local box with agents (clock faults on) and two controllers, the
 * fixture's workloads applied. Reused between trials: `restore` lifts every fault there may be
 * left (cuts, hung API servers, clock offsets, stopped processes), revives what is dead (killed by
 * a fault, or powered off by a fence) and waits until the box is healthy again.
 */

export const CONTROLLERS = 2;

export class ChaosBox {
  private constructor(
    readonly root: string,
    readonly dir: string,
    readonly box: BoxSpec,
    readonly kc: KubeConfig,
  ) {}

  /** A fresh box from `fixture`, its UDP port replaced by a free one, in a new temporary directory. */
  static async start(fixture: string, progress: Progress, engine: EngineName = 'process'): Promise<ChaosBox> {
    const root = await mkdtemp(join(tmpdir(), 'edgebox-chaos-'));
    try {
      const doc = parseDocument(await readFile(fixture, 'utf8'));
      const { box: original } = await loadSpec(fixture);
      doc.setIn(['spec', 'failover', 'port'], await freeUdpPortOn(Object.values(localAddresses(original))));
      const spec = join(root, 'chaos-box.yaml');
      await writeFile(spec, `# bench:chaos: ${fixture} with a free port\n${doc.toString()}`);
      const { box } = await loadSpec(spec);
      const dir = join(root, 'box');
      const r = await up(spec, {
        dir,
        timings: 'tuned',
        withAgents: true,
        withController: true,
        controllers: CONTROLLERS,
        clockFaults: true,
        engine,
        progress,
      });
      const kc = loadKubeConfig({ path: r.kubeconfig });
      await applyBox({ box, cluster: new Cluster(kc) });
      await Recorder.prepare(kc);
      return new ChaosBox(root, dir, box, kc);
    } catch (e) {
      await down(join(root, 'box')).catch(() => undefined);
      await rm(root, { recursive: true, force: true });
      throw e;
    }
  }

  async state(): Promise<BoxState> {
    const s = await readState(this.dir);
    if (!s) throw new Error(`the box in ${this.dir} has no state: it is not running`);
    return s;
  }

  get servers(): number {
    return this.box.spec.controlPlane.servers;
  }

  /** `kubelets`: also every simulated kubelet renewing its node Lease (the restore between trials). */
  health(state: BoxState, kubelets = false): Promise<Health> {
    return sampleHealth(this.kc, state, { namespace: this.box.metadata.name, voters: this.servers, kubelets });
  }

  /** Modules still fenced (settling before they rejoin): a trial that starts with one could not see it fenced anew. */
  async fenced(): Promise<string[]> {
    const nodes = await this.kc.makeApiClient(CoreV1Api).listNode();
    return nodes.items.filter((n) => n.metadata?.annotations?.[FENCE_ANNOTATIONS.fenceMethod] !== undefined).map((n) => n.metadata?.name ?? '');
  }

  /**
   * Lifts whatever fault may be left and revives every module; then waits, up to `deadlineMs`,
   * for health and for every fenced module to have rejoined, so that each trial starts from a
   * whole box.
   */
  async restore(deadlineMs: number): Promise<Health> {
    await healModules(this.dir);
    await resumeApiservers(this.dir);
    let state = await this.state();
    for (const m of Object.keys(state.addresses)) {
      await setClockOffset(this.dir, m, 0);
      const r = await readServerRecord(this.dir, m);
      await signalProcesses(
        [r.etcd, r.apiserver, r.k3s].filter((p) => p !== undefined),
        'SIGCONT',
      );
    }
    await signalProcesses(state.agents ?? [], 'SIGCONT');
    for (const m of state.killed) await reviveModule(this.dir, m);
    await ensureAgents(this.dir, { progress: silent });
    await ensureControllers(this.dir, CONTROLLERS, silent);
    const end = Date.now() + deadlineMs;
    for (;;) {
      state = await this.state();
      const h = await this.health(state, true);
      const fenced = await this.fenced().catch(() => ['(nodes not readable)']);
      const whole = fenced.length === 0 ? h : { ...h, healthy: false, missing: [...h.missing, `fenced: ${fenced.join(', ')}`] };
      if (whole.healthy || Date.now() > end) return whole;
      // A fence (power) during the wait kills a module again: revive it.
      for (const m of state.killed) await reviveModule(this.dir, m).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async stop(): Promise<void> {
    await healModules(this.dir).catch(() => undefined);
    await down(this.dir);
    await rm(this.root, { recursive: true, force: true });
  }
}
