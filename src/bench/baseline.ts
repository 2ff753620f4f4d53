import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyDesired, desiredState } from '../apply/apply.js';
import { Cluster } from '../apply/cluster.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { timingsFor, type TimingsName } from '../local/timings.js';
import { down } from '../local/down.js';
import { killModule } from '../local/failure-injection.js';
import { KWOK_SELECTOR } from '../local/simulated-nodes.js';
import { up } from '../local/up.js';
import type { KubeObject } from '../render/manifests.js';
import { FAILOVER_TAINTS } from '../render/workloads.js';
import { LABELS } from '../contract/labels.js';
import { loadSpec } from '../spec/load.js';
import { keepWatching, log, seconds as s, until } from './watch.js';
import { isReady } from '../kube/client.js';
import { describeSimulation, FAULTS } from './simulation.js';
import { reportTargets } from './targets.js';

/**
 * The stock-Kubernetes yardstick (`npm run bench:failover-baseline`, and reused by
 * `bench:failover`): on a local box of the seed spec, kill the module running
 * the critical workload detector-a and time, from the kill to a replacement pod Ready on another
 * module. Twice: with Kubernetes' default failover timings everywhere (control plane flags and
 * the 300 s tolerations every pod gets by default), then with what `render` writes (tuned flags
 * and edgebox's per-criticality tolerations). Every time is the moment a watch event arrived:
 * the kill is the node event that drops KWOK's heartbeat label, the end is the pod event that
 * shows the replacement Ready.
 */
const SPEC = fileURLToPath(new URL('../../examples/article-box.yaml', import.meta.url));
const WORKLOAD = 'detector-a';
/** Well past the expected figure (default: 50 s grace + 300 s toleration), so a slow run still finishes. */
const DEADLINE_MS: Record<TimingsName, number> = { default: 10 * 60_000, tuned: 3 * 60_000 };

interface PodSeen {
  node?: string;
  ready: boolean;
  terminating: boolean;
}

/** When each step of the failover was first seen, in ms since the epoch (watch-event arrival). */
export interface Milestones {
  kill?: number;
  nodeNotReady?: number;
  evicted?: number;
  replacementCreated?: number;
  replacementScheduled?: number;
  replacementReady?: number;
}

export interface Run {
  timings: TimingsName;
  module: string;
  milestones: Milestones;
}

/**
 * The box's objects as plain Kubernetes would run them: without edgebox's not-ready/unreachable
 * tolerations, so the DefaultTolerationSeconds admission plugin gives every pod its 300 s.
 */
function withDefaultTolerations(o: KubeObject): KubeObject {
  const pod = (o.spec as { template?: { spec?: { tolerations?: { key?: string }[] } } } | undefined)?.template?.spec;
  if (!pod?.tolerations) return o;
  const copy = structuredClone(o);
  const spec = (copy.spec as { template: { spec: { tolerations?: { key?: string }[] } } }).template.spec;
  spec.tolerations = spec.tolerations!.filter((t) => !(FAILOVER_TAINTS as readonly (string | undefined)[]).includes(t.key));
  if (spec.tolerations.length === 0) delete spec.tolerations;
  return copy;
}

export async function measureBaseline(timings: TimingsName, signal: AbortSignal): Promise<Run> {
  const t = timingsFor(timings);
  log(
    `\n== ${timings} timings: grace ${t.nodeMonitorGracePeriodSeconds} s, monitor period ${t.nodeMonitorPeriodSeconds} s, lease ${t.nodeLeaseDurationSeconds} s, ${timings === 'default' ? `${t.defaultTolerationSeconds} s default toleration` : `critical toleration ${t.tolerationSeconds.critical} s`}`,
  );
  const dir = await mkdtemp(join(tmpdir(), `edgebox-bench-${timings}-`));
  const watches = new AbortController();
  const stopWatches = () => watches.abort();
  signal.addEventListener('abort', stopWatches, { once: true });
  try {
    const started = await up(SPEC, { dir, timings, controlPlane: 'single', progress: (line) => log(`  ${line.trim()}`) });
    for (const line of describeSimulation(started.state, [FAULTS.kill])) log(`  ${line}`);
    const kc = loadKubeConfig({ path: started.kubeconfig });
    const { box } = await loadSpec(SPEC);
    const desired = desiredState(box);
    if (timings === 'default') desired.objects = desired.objects.map(withDefaultTolerations);
    await applyDesired({ box, desired, cluster: new Cluster(kc) });
    const namespace = box.metadata.name;

    const pods = new Map<string, PodSeen>();
    const m: Milestones = {};
    // Set once the workload's pod is known; the watch below reads it from its first event on.
    // eslint-disable-next-line prefer-const -- assigned after the watch that reads it is opened
    let victim: { pod: string; node: string } | undefined;
    const isReplacement = (name: string, p: PodSeen) => victim !== undefined && name !== victim.pod && !p.terminating;
    keepWatching(
      kc,
      `/api/v1/namespaces/${namespace}/pods`,
      { labelSelector: `${LABELS.workload}=${WORKLOAD}` },
      (type, obj, at) => {
        const name = obj.metadata.name as string;
        const p: PodSeen = {
          ...(obj.spec?.nodeName ? { node: obj.spec.nodeName as string } : {}),
          ready: isReady(obj),
          terminating: Boolean(obj.metadata.deletionTimestamp),
        };
        if (type === 'DELETED') pods.delete(name);
        else pods.set(name, p);
        if (!victim || m.kill === undefined) return;
        if (name === victim.pod && p.terminating) m.evicted ??= at;
        if (isReplacement(name, p)) {
          m.replacementCreated ??= at;
          if (p.node && p.node !== victim.node) m.replacementScheduled ??= at;
          if (p.ready && p.node && p.node !== victim.node) m.replacementReady ??= at;
        }
      },
      watches.signal,
    );

    await until(`${WORKLOAD} Ready`, () => [...pods.values()].some((p) => p.ready), { deadlineMs: 120_000, signal });
    const [pod, seen] = [...pods.entries()].find(([, p]) => p.ready)!;
    victim = { pod, node: seen.node! };
    log(`  ${WORKLOAD} runs as ${pod} on ${victim.node}; killing ${victim.node}`);

    let nodeWatched = false;
    keepWatching(
      kc,
      '/api/v1/nodes',
      { fieldSelector: `metadata.name=${victim.node}` },
      (_type, obj, at) => {
        nodeWatched = true;
        if (obj.metadata.labels?.[KWOK_SELECTOR.key] === undefined) m.kill ??= at;
        const ready = (obj.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready')?.status;
        if (m.kill !== undefined && ready !== undefined && ready !== 'True') m.nodeNotReady ??= at;
      },
      watches.signal,
    );
    // The watch's first event (the node as it is) proves it is open before the kill happens.
    await until('the node watch', () => nodeWatched, { deadlineMs: 30_000, signal });
    const killedAt = Date.now();
    await killModule(dir, victim.node);
    await until('the kill to show in the node watch', () => m.kill !== undefined, { deadlineMs: 30_000, signal });

    const since = (at: number | undefined) => (at === undefined ? undefined : at - m.kill!);
    await until(`a replacement of ${WORKLOAD} Ready on another module`, () => m.replacementReady !== undefined, {
      deadlineMs: DEADLINE_MS[timings],
      signal,
      status: () => {
        const stage =
          m.nodeNotReady === undefined
            ? `waiting for the node lifecycle controller to notice (grace ${t.nodeMonitorGracePeriodSeconds} s)`
            : m.evicted === undefined
              ? `${victim!.node} NotReady at +${s(since(m.nodeNotReady))}; waiting for the toleration to run out`
              : `evicted at +${s(since(m.evicted))}; waiting for the replacement`;
        return `+${s(Date.now() - m.kill!)}: ${stage}`;
      },
    });
    log(`  replacement Ready ${s(since(m.replacementReady))} after the kill (kill seen in the watch ${s(m.kill! - killedAt)} after the request)`);
    return { timings, module: victim.node, milestones: m };
  } finally {
    stopWatches();
    signal.removeEventListener('abort', stopWatches);
    const stopped = await down(dir);
    log(`  stopped ${stopped.stopped.join(', ') || 'nothing'}`);
    await rm(dir, { recursive: true, force: true });
  }
}

export function reportBaseline(runs: readonly Run[]): void {
  const rows: [string, keyof Milestones][] = [
    ['node NotReady', 'nodeNotReady'],
    ['old pod evicted (Terminating)', 'evicted'],
    ['replacement created', 'replacementCreated'],
    ['replacement scheduled', 'replacementScheduled'],
    ['replacement Ready', 'replacementReady'],
  ];
  const col = (r: Run, k: keyof Milestones) => s(r.milestones[k] === undefined ? undefined : r.milestones[k]! - r.milestones.kill!);
  log(`\nfailover of ${WORKLOAD}: seconds after the kill of its module (watch-event times)`);
  log(`  ${''.padEnd(32)}${runs.map((r) => r.timings.padStart(12)).join('')}`);
  for (const [label, k] of rows) log(`  ${label.padEnd(32)}${runs.map((r) => col(r, k).padStart(12)).join('')}`);
  const d = failoverMs(runs.find((r) => r.timings === 'default'));
  const tu = failoverMs(runs.find((r) => r.timings === 'tuned'));
  if (d !== undefined && tu !== undefined) log(`\n  default ${s(d)}, tuned ${s(tu)}: the tuned timings fail over ${(d / tu).toFixed(1)}x faster`);
}

/**
 * The yardstick's own targets: each run's replacement Ready within the deadline it was given (a
 * run past it throws before this point, so a missing run is a miss too).
 */
export function reportBaselineTargets(runs: readonly Run[]): void {
  reportTargets(
    (['default', 'tuned'] as const).map((timings) => {
      const ms = failoverMs(runs.find((r) => r.timings === timings));
      return {
        name: `${timings} timings: kill -> replacement Ready`,
        measured: ms === undefined ? undefined : ms / 1000,
        bound: DEADLINE_MS[timings] / 1000,
        unit: 's',
        comparison: '<=' as const,
      };
    }),
  );
}

/** From the kill to the replacement Ready, in ms. */
export function failoverMs(run: Run | undefined): number | undefined {
  return run ? run.milestones.replacementReady! - run.milestones.kill! : undefined;
}
