import type { V1Pod } from '@kubernetes/client-node';
import type { Plan } from '../plan/model.js';
import { LABELS } from '../contract/labels.js';
import type { BoxSpec, WorkloadSpec } from '../spec/schema.js';
import { statusFailovers, type StatusFailover } from './edgebox-status.js';
import { iso, ms, podReadyAt, podRef, type ClusterSnapshot } from './snapshot.js';
import type { Failover, TimelineEntry, WorkloadView } from './view.js';

export interface WorkloadsInput {
  box: BoxSpec;
  plan: Plan;
  cluster?: ClusterSnapshot;
  /** The timeline of this view: its detections date the start of a derived failover. */
  timeline: readonly TimelineEntry[];
}

/** Each workload of the spec: where it runs, where it could, and its last failover. Pure. */
export function workloadViews(input: WorkloadsInput): WorkloadView[] {
  const { box, plan, cluster } = input;
  const failovers = statusFailovers(cluster?.edgeBox?.status);
  return box.spec.workloads.map((w) => {
    const of = (p: V1Pod) => p.metadata?.labels?.[LABELS.workload] === w.name;
    const live = (cluster?.pods ?? []).filter(of);
    const departed = (cluster?.departedPods ?? []).filter(of);
    const planned = plan.placements[w.name] ?? [];
    const lastFailover = fromStatus(w, failovers) ?? fromPods(live, departed, input.timeline);
    return {
      name: w.name,
      kind: w.kind,
      criticality: w.criticality,
      singleton: w.singleton,
      peripherals: [...w.peripherals],
      pods: live.map(podRef),
      runningOn: [...new Set(live.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running').map((p) => p.spec?.nodeName ?? ''))].filter(
        Boolean,
      ),
      planned,
      capable: plan.capable[w.name] ?? [],
      state: stateOf(w, live, planned.length),
      ...(lastFailover ? { lastFailover } : {}),
    };
  });
}

export function stateOf(w: WorkloadSpec, pods: readonly V1Pod[], plannedCount: number): WorkloadView['state'] {
  if (pods.length === 0) return 'not-deployed';
  if (pods.some((p) => p.metadata?.deletionTimestamp)) return 'moving';
  const wanted = w.kind === 'daemonset' ? plannedCount : w.replicas;
  const ready = pods.filter((p) => podReadyAt(p) !== undefined).length;
  if (ready >= wanted) return 'running';
  return pods.some((p) => p.status?.phase !== 'Failed') ? 'starting' : 'down';
}

/** The controller's latest failover record that names this workload. */
function fromStatus(w: WorkloadSpec, failovers: readonly StatusFailover[]): Failover | undefined {
  const f = failovers
    .filter((x) => x.workloads.includes(w.name) && x.at !== undefined)
    .sort((a, b) => a.at! - b.at!)
    .at(-1);
  if (!f) return undefined;
  const phases = {
    ...(f.detectionMs !== undefined ? { detectionMs: f.detectionMs } : {}),
    ...(f.fencingMs !== undefined ? { fencingMs: f.fencingMs } : {}),
    ...(f.readyMs !== undefined ? { readyMs: f.readyMs } : {}),
  };
  return {
    ...(f.module ? { from: f.module } : {}),
    startedAt: iso(f.at!),
    // readyMs runs from the failure to the replacement Ready: the whole failover.
    ...(f.readyMs !== undefined ? { endedAt: iso(f.at! + f.readyMs), durationMs: f.readyMs } : {}),
    source: 'status',
    phases,
  };
}

/**
 * Until the controller records failovers: the newest running pod paired with the pod it
 * replaced (deleted on another module no later than the replacement was created). The failover
 * starts at that module's detection's start (its last heartbeat) when the timeline has it, else
 * at the old pod's deletion, and ends when the replacement became Ready.
 */
export function fromPods(live: readonly V1Pod[], departed: readonly V1Pod[], timeline: readonly TimelineEntry[]): Failover | undefined {
  const created = (p: V1Pod) => ms(p.metadata?.creationTimestamp) ?? 0;
  const replacement = live
    .filter((p) => !p.metadata?.deletionTimestamp)
    .sort((a, b) => created(a) - created(b))
    .at(-1);
  if (!replacement) return undefined;
  // Deletion is stamped when a pod is evicted or force-deleted; grace makes it the end of that grace.
  const deletedAt = (p: V1Pod) => {
    const t = ms(p.metadata?.deletionTimestamp);
    return t === undefined ? undefined : t - (p.metadata?.deletionGracePeriodSeconds ?? 0) * 1000;
  };
  const old = [...live, ...departed]
    .filter((p) => p.metadata?.uid !== replacement.metadata?.uid && p.spec?.nodeName && p.spec.nodeName !== replacement.spec?.nodeName)
    .filter((p) => (deletedAt(p) ?? Infinity) <= created(replacement) + 1000)
    .sort((a, b) => deletedAt(a)! - deletedAt(b)!)
    .at(-1);
  if (!old) return undefined;
  const from = old.spec!.nodeName!;
  const deleted = deletedAt(old)!;
  const detection = timeline.find((e) => e.kind === 'detection' && e.module === from && ms(e.at)! <= deleted);
  const startedAt = detection ? ms(detection.at)! - (detection.durationMs ?? 0) : deleted;
  const ready = podReadyAt(replacement);
  return {
    from,
    ...(replacement.spec?.nodeName ? { to: replacement.spec.nodeName } : {}),
    startedAt: iso(startedAt),
    ...(ready !== undefined && ready >= startedAt ? { endedAt: iso(ready), durationMs: ready - startedAt } : {}),
    source: 'pods',
  };
}
