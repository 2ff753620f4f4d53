import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Log } from '../base/log.js';
import { EdgeboxError } from '../diagnostics/diagnostic.js';
import type { BoxSpec } from '../spec/schema.js';
import type { Action, NodePatch, PodRef } from './decide.js';
import type { EventRecorder } from './events.js';
import type { ControllerMetrics } from './metrics.js';
import type { FailoverStage } from '../contract/metrics.js';
import type { PowerDriver, PowerSpec } from '../power/driver.js';
import { apiStatus } from '../kube/client.js';
import { FENCE_ANNOTATIONS, type FailoverRecord, formatFailover } from '../contract/fencing.js';
import { apiClient } from '../kube/api-client.js';

/**
 * Carries out decide's actions, nothing more: every node write is a merge patch with the
 * resourceVersion the decision was made on (a conflict means the node changed; the next pass
 * decides again), pod deletions ignore pods already gone, and Events and metrics follow only a
 * write that succeeded, so a repeated decision never reports twice.
 */

export interface ExecutorOptions {
  kc: KubeConfig;
  box: BoxSpec;
  log: Log;
  events: EventRecorder;
  metrics: ControllerMetrics;
  drivers?: (p: PowerSpec) => PowerDriver;
  now: () => number;
  /** How long a power driver has to report the slot off. Default 10 s. */
  powerConfirmMs?: number;
  /** Between power state checks. Default 250 ms. */
  powerPollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** What an action wrote: the nodes' new resourceVersions and the pods deleted. */
export interface Written {
  nodes: Map<string, string>;
  pods: PodRef[];
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const fmt = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString());

export class Executor {
  private readonly core: CoreV1Api;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: ExecutorOptions) {
    this.core = apiClient(o.kc, CoreV1Api);
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async execute(a: Action): Promise<Written> {
    const written: Written = { nodes: new Map(), pods: [] };
    const patch = async (p: NodePatch) => {
      const rv = await this.patchNode(p);
      if (rv !== undefined) written.nodes.set(p.node, rv);
      return rv !== undefined;
    };
    const node = 'patch' in a ? a.patch.node : a.onConfirmed.node;
    const ev = (type: 'Normal' | 'Warning', reason: Parameters<EventRecorder['node']>[2], message: string) => this.o.events.node(node, type, reason, message);

    switch (a.type) {
      case 'detect':
        if (!(await patch(a.patch))) break;
        this.o.metrics.detections.inc();
        this.observe('detected', a.record, a.record.detectedAt);
        this.o.log('warn', 'module failed', { module: a.module, witnesses: a.record.witnesses, lastSeen: fmt(a.record.lastSeenAt) });
        await ev(
          'Warning',
          'ModuleFailed',
          `${a.record.witnesses.join(', ')} cannot reach module ${a.module} and its node Lease has not been renewed since they last heard it (${fmt(a.record.lastSeenAt)}): fencing it`,
        );
        break;
      case 'cancel-detection':
        if (!(await patch(a.patch))) break;
        this.o.log('info', 'module recovered before it was fenced', { module: a.module });
        await ev('Normal', 'ModuleRecovered', `module ${a.module} is reachable again or its node renews its Lease: not fenced`);
        break;
      case 'power-off':
        await this.powerOff(a, patch, ev);
        break;
      case 'taint':
        if (!(await patch(a.patch))) break;
        if (a.method) await this.fenced(a.module, a.method, a.record, ev, 'out-of-service taint node.kubernetes.io/out-of-service=nodeshutdown:NoExecute');
        break;
      case 'release-pods': {
        for (const p of a.pods) if (await this.forceDelete(p)) written.pods.push(p);
        if (!(await patch(a.patch)) || !a.first) break;
        this.observe('released', a.record, a.record.releasedAt!);
        if (a.record.readyAt !== undefined) this.observe('ready', a.record, a.record.readyAt);
        const names = a.pods.map((p) => `${p.namespace}/${p.name}`);
        this.o.log('info', 'pods released', { module: a.module, pods: names });
        await ev(
          'Normal',
          'PodsReleased',
          a.pods.length
            ? `fencing confirmed: force-deleted ${names.join(', ')} so their controllers replace them elsewhere`
            : 'fencing confirmed: no pods were bound to the module',
        );
        for (const w of this.workloadsOf(a.pods)) {
          await this.o.events.workload(
            w.kind,
            w.namespace,
            w.name,
            'Normal',
            'PodsReleased',
            `module ${a.module} is fenced: its pod(s) ${w.pods.join(', ')} were force-deleted for a replacement elsewhere`,
          );
        }
        break;
      }
      case 'record-ready':
        if (!(await patch(a.patch))) break;
        this.observe('ready', a.record, a.record.readyAt!);
        await ev('Normal', 'WorkloadsReady', `every workload that ran on module ${a.module} is Ready again on another module`);
        break;
      case 'mark-healthy':
        if (await patch(a.patch)) this.o.log('info', 'fenced module is healthy again: settling', { module: a.module });
        break;
      case 'mark-unhealthy':
        if (await patch(a.patch)) this.o.log('info', 'fenced module is unhealthy again: settle period restarts', { module: a.module });
        break;
      case 'rejoin':
        if (!(await patch(a.patch))) break;
        this.o.log('info', 'module rejoined', { module: a.module });
        await ev('Normal', 'ModuleRejoined', `module ${a.module} was healthy for its settle period: out-of-service taint removed, it takes workloads again`);
        break;
    }
    return written;
  }

  /** The failover stage's duration since the module was last heard. */
  private observe(stage: FailoverStage, r: FailoverRecord, at: number): void {
    this.o.metrics.failoverSeconds.observe({ stage }, Math.max(0, at - (r.lastSeenAt ?? r.detectedAt)) / 1000);
  }

  private async fenced(
    module: string,
    method: 'power' | 'taint',
    r: FailoverRecord,
    ev: (t: 'Normal' | 'Warning', reason: 'ModuleFenced', m: string) => Promise<void>,
    how: string,
  ): Promise<void> {
    this.o.metrics.fencings.inc({ method });
    this.observe('fenced', r, this.o.now());
    this.o.log('warn', 'module fenced', { module, method });
    await ev('Warning', 'ModuleFenced', `module ${module} fenced by ${how}`);
  }

  private async powerOff(
    a: Extract<Action, { type: 'power-off' }>,
    patch: (p: NodePatch) => Promise<boolean>,
    ev: (t: 'Normal' | 'Warning', reason: 'ModuleFenced' | 'FenceFailed', m: string) => Promise<void>,
  ): Promise<void> {
    const driver = this.o.drivers?.(a.driver);
    const confirmMs = this.o.powerConfirmMs ?? 10_000;
    let error: string | undefined;
    try {
      if (!driver) throw new Error(`no ${a.driver.driver} power driver was given to the controller`);
      await driver.powerOff(a.module, a.driver.slot);
      const deadline = this.o.now() + confirmMs;
      for (;;) {
        if ((await driver.state(a.module, a.driver.slot)) === 'off') break;
        if (this.o.now() >= deadline) {
          error = `the ${a.driver.driver} driver did not report slot ${a.driver.slot} off within ${confirmMs / 1000} s`;
          break;
        }
        await this.sleep(this.o.powerPollMs ?? 250);
      }
    } catch (e) {
      error = e instanceof EdgeboxError ? e.diagnostics.map((d) => d.message).join('; ') : (e as Error).message;
    }
    if (error === undefined) {
      if (await patch(a.onConfirmed)) await this.fenced(a.module, 'power', a.record, ev, `the ${a.driver.driver} power driver (slot ${a.driver.slot} is off)`);
      return;
    }
    const failed = { ...a.record, powerError: error };
    if (
      await patch({
        node: a.onConfirmed.node,
        resourceVersion: a.onConfirmed.resourceVersion,
        annotations: { [FENCE_ANNOTATIONS.failover]: formatFailover(failed) },
      })
    ) {
      this.o.log('warn', 'power-off failed: fencing by taint instead', { module: a.module, error });
      await ev('Warning', 'FenceFailed', `powering module ${a.module} off failed (${error}); fencing it with the out-of-service taint instead`);
    }
  }

  /** The node's new resourceVersion, or undefined when it changed since the decision (409). */
  private async patchNode(p: NodePatch): Promise<string | undefined> {
    const body = {
      metadata: { resourceVersion: p.resourceVersion, ...(p.annotations ? { annotations: p.annotations } : {}) },
      // A merge patch replaces a list whole: these are all of the node's taints, its own kept.
      ...(p.taints ? { spec: { taints: p.taints } } : {}),
    };
    try {
      const n: V1Node = await this.core.patchNode({ name: p.node, body }, merge);
      return n.metadata?.resourceVersion;
    } catch (e) {
      if (apiStatus(e) === 409 || apiStatus(e) === 404) {
        this.o.log('info', 'node changed since the decision: deciding again', { node: p.node });
        return undefined;
      }
      throw e;
    }
  }

  /** Force-deletes (grace 0) one pod, only the one observed (uid precondition). False when it was already gone. */
  private async forceDelete(p: PodRef): Promise<boolean> {
    try {
      await this.core.deleteNamespacedPod({
        name: p.name,
        namespace: p.namespace,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid: p.uid } },
      });
      return true;
    } catch (e) {
      // 404: already gone; 409: the name now belongs to a new pod (a StatefulSet replacement).
      if (apiStatus(e) === 404 || apiStatus(e) === 409) return false;
      throw e;
    }
  }

  private workloadsOf(pods: readonly PodRef[]): { kind: 'Deployment' | 'StatefulSet'; namespace: string; name: string; pods: string[] }[] {
    const out = new Map<string, { kind: 'Deployment' | 'StatefulSet'; namespace: string; name: string; pods: string[] }>();
    for (const p of pods) {
      const w = this.o.box.spec.workloads.find((x) => x.name === p.workload);
      // Rendered workloads live in the namespace named after the box, under their own name.
      if (!w || w.kind === 'daemonset' || p.namespace !== this.o.box.metadata.name) continue;
      const kind = w.kind === 'statefulset' ? 'StatefulSet' : 'Deployment';
      const entry = out.get(w.name) ?? { kind, namespace: p.namespace, name: w.name, pods: [] };
      entry.pods.push(p.name);
      out.set(w.name, entry);
    }
    return [...out.values()];
  }
}
