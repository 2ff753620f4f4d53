import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { LABELS } from '../contract/labels.js';
import type { BoxSpec } from '../spec/schema.js';
import { iso, ms, type ClusterSnapshot } from './snapshot.js';
import type { TimelineEntry, TimelineKind } from './view.js';
import { PEER_VIEW_ANNOTATION, parsePeerView } from '../contract/peer-view.js';

/** Where Kubernetes keeps each node's heartbeat Lease. */
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** The timeline shows the latest entries only; Events themselves expire after an hour. */
export const TIMELINE_LIMIT = 200;

/**
 * Event reasons, by the step of a failover they record: the self-healing controller's
 * (ModuleFailed, ModuleFenced, PodsReleased, ModuleRejoined) and Kubernetes' own, which are all
 * there is before the controller runs (the node lifecycle controller's NodeNotReady, the taint
 * eviction controller's TaintManagerEviction, the scheduler's Scheduled).
 */
export function kindOf(reason: string): TimelineKind | undefined {
  switch (reason) {
    case 'ModuleFailed':
    case 'NodeNotReady':
      return 'detection';
    case 'ModuleFenced':
      return 'fencing';
    case 'TaintManagerEviction':
      return 'eviction';
    case 'PodsReleased':
      return 'handover';
    case 'Scheduled':
      return 'placement';
    case 'ModuleRejoined':
    case 'NodeReady':
      return 'rejoin';
  }
  // The control-plane and peripheral issues name theirs after what happens.
  if (/promot/i.test(reason)) return 'promotion';
  if (/handover|ownerchanged/i.test(reason)) return 'handover';
  return undefined;
}

export const eventTime = (e: CoreV1Event): number | undefined => ms(e.eventTime ?? e.lastTimestamp ?? e.firstTimestamp ?? e.metadata?.creationTimestamp);

/**
 * Each module's last heartbeat: the latest of its node Lease renewal and of the times the
 * other agents last heard it. While a module is down this is when it went silent.
 */
export function lastHeartbeats(cluster: ClusterSnapshot): Map<string, number> {
  const out = new Map<string, number>();
  const bump = (module: string, t: number | undefined) => {
    if (t !== undefined && t > (out.get(module) ?? -Infinity)) out.set(module, t);
  };
  for (const l of cluster.leases) {
    if (l.metadata?.namespace === NODE_LEASE_NAMESPACE && l.metadata.name) bump(l.metadata.name, ms(l.spec?.renewTime));
    for (const [peer, entry] of Object.entries(parsePeerView(l.metadata?.annotations?.[PEER_VIEW_ANNOTATION]))) bump(peer, ms(entry.lastSeen));
  }
  return out;
}

interface Located {
  module?: string;
  workload?: string;
}

/**
 * Detections, fencings, evictions, handovers, replacements' placements, promotions and rejoins,
 * newest first, each with its duration where the cluster shows when its failover began:
 * - detection: from the module's last heartbeat (known while it is still down);
 * - fencing, eviction, handover, rejoin: from the module's detection;
 * - placement of a replacement: from the detection of the module its workload ran on, i.e. the
 *   failover so far. Placements that replace nothing (a first start) are left out.
 * Pure.
 */
export function timeline(box: BoxSpec, cluster: ClusterSnapshot): TimelineEntry[] {
  const modules = new Set(box.spec.modules.map((m) => m.name));
  const pods = [...cluster.pods, ...cluster.departedPods];
  const podByName = new Map(pods.map((p) => [`${p.metadata?.namespace}/${p.metadata?.name}`, p]));
  const heartbeats = lastHeartbeats(cluster);

  const raw = cluster.events
    .flatMap((e) => {
      const kind = kindOf(e.reason ?? '');
      const at = eventTime(e);
      if (!kind || at === undefined) return [];
      // The node lifecycle controller repeats NodeNotReady on every pod of the node: the node's is the detection.
      if (kind === 'detection' && e.involvedObject.kind !== 'Node') return [];
      const where = locate(e, podByName, modules, box.metadata.name);
      if (!where) return [];
      return [{ e, kind, at, ...where }];
    })
    .sort((a, b) => a.at - b.at);

  const detections: { module: string; at: number; start: number }[] = [];
  const detectionOf = (module: string | undefined, at: number) =>
    module === undefined ? undefined : detections.filter((d) => d.module === module && d.at <= at).at(-1);

  const entries: TimelineEntry[] = [];
  for (const r of raw) {
    let durationMs: number | undefined;
    let module = r.module;
    if (r.kind === 'detection' && module) {
      const beat = heartbeats.get(module);
      const start = beat !== undefined && beat <= r.at ? beat : r.at;
      if (beat !== undefined && beat <= r.at) durationMs = r.at - beat;
      detections.push({ module, at: r.at, start });
    } else if (r.kind === 'placement') {
      const failed = replacedFrom({ workload: r.workload, pod: r.e.involvedObject.name, at: r.at }, pods, detections);
      if (!failed) continue;
      durationMs = r.at - failed.start;
      module = r.module;
    } else if (r.kind === 'rejoin') {
      const d = detectionOf(module, r.at);
      // A node becoming Ready for the first time rejoins nothing.
      if (!d) continue;
      durationMs = r.at - d.at;
    } else if (r.kind !== 'promotion') {
      const d = detectionOf(module, r.at);
      if (d) durationMs = r.at - d.at;
    }
    entries.push({
      id: r.e.metadata?.uid ?? `${r.e.metadata?.namespace}/${r.e.metadata?.name}`,
      at: iso(r.at),
      kind: r.kind,
      reason: r.e.reason ?? '',
      ...(module ? { module } : {}),
      ...(r.workload ? { workload: r.workload } : {}),
      message: r.e.message ?? '',
      ...(durationMs !== undefined ? { durationMs } : {}),
      source: r.e.source?.component ?? r.e.reportingComponent ?? '',
    });
  }
  return entries.reverse().slice(0, TIMELINE_LIMIT);
}

/** The module and workload an Event is about, or undefined when it is not about this box. */
function locate(e: CoreV1Event, podByName: Map<string, V1Pod>, modules: Set<string>, boxName: string): Located | undefined {
  const obj = e.involvedObject;
  const named = (text: string | undefined) => [...modules].find((m) => new RegExp(`(^|[^-a-z0-9])${m}($|[^-a-z0-9])`).test(text ?? ''));
  if (obj.kind === 'Node') return modules.has(obj.name ?? '') ? { module: obj.name! } : undefined;
  if (obj.kind === 'Pod') {
    const pod = podByName.get(`${obj.namespace}/${obj.name}`);
    const workload = pod?.metadata?.labels?.[LABELS.workload];
    if (!pod && obj.namespace !== boxName) return undefined;
    if (pod && !workload) return undefined;
    // A Scheduled event names the module it placed the pod on; others are about where it ran.
    const module = e.reason === 'Scheduled' ? named(e.message) : (pod?.spec?.nodeName ?? named(e.message));
    return { ...(module ? { module } : {}), ...(workload ? { workload } : {}) };
  }
  if (obj.kind === 'EdgeBox' || obj.namespace === boxName) {
    const module = named(e.message);
    const workload = obj.kind === 'Deployment' || obj.kind === 'StatefulSet' || obj.kind === 'DaemonSet' ? obj.name : undefined;
    return { ...(module ? { module } : {}), ...(workload ? { workload } : {}) };
  }
  return undefined;
}

/** A failover takes seconds to minutes; a detection older than this is not what a placement recovers from. */
const FAILOVER_WINDOW_MS = 15 * 60_000;

/**
 * The detection a placement of a pod recovers from: the latest detection, shortly before it, of
 * a module that ran another pod of the same workload created before the placement.
 */
function replacedFrom(
  placed: { workload: string | undefined; pod: string | undefined; at: number },
  pods: readonly V1Pod[],
  detections: readonly { module: string; at: number; start: number }[],
) {
  if (!placed.workload) return undefined;
  const hosts = new Set(
    pods
      .filter((p) => p.metadata?.labels?.[LABELS.workload] === placed.workload && (ms(p.metadata?.creationTimestamp) ?? Infinity) < placed.at)
      // A StatefulSet's replacement has its predecessor's name: only an earlier node tells them apart.
      .filter((p) => p.metadata?.name !== placed.pod || p.metadata?.deletionTimestamp)
      .map((p) => p.spec?.nodeName),
  );
  return detections.filter((d) => d.at <= placed.at && placed.at - d.at <= FAILOVER_WINDOW_MS && hosts.has(d.module)).at(-1);
}
