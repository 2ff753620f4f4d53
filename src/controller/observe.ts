import { CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Lease, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { LABELS } from '../contract/labels.js';
import type { AgentView, ObservedNode, ObservedNodeLease, ObservedPod, PeerEntry, Ready } from './model.js';
import { isReady } from '../kube/client.js';
import { CONTROL_PLANE_ANNOTATIONS, parseControlPlaneReport } from '../contract/control-plane.js';
import type { ModuleReport, GuardianObserved } from './guardian/view.js';
import type { Taint } from '../contract/taints.js';
import { timeOf } from '../kube/time.js';
import { agentLeaseName, NODE_LEASE_NAMESPACE, SYSTEM_NAMESPACE } from '../contract/leases.js';
import { PEER_VIEW_ANNOTATION, parsePeerView } from '../contract/peer-view.js';
import { describeRequestError } from '../kube/request-errors.js';
import { type BoxSpec } from '../spec/schema.js';
import { API_TIMEOUT_MS, withTimeout } from '../base/timeout.js';

/**
 * The observed state the controller decides on, as plain shapes: conversions of API objects
 * (typed from a list, with Date fields, or raw JSON from a watch, with strings; both are read
 * the same way), and the same state listed once for the CLI (`edgebox status`, `edgebox drain`).
 */

const AGENT_PREFIX = agentLeaseName('');

export function toObservedNode(n: V1Node): ObservedNode {
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return {
    name: n.metadata?.name ?? '',
    resourceVersion: n.metadata?.resourceVersion ?? '',
    labels: { ...n.metadata?.labels },
    annotations: { ...n.metadata?.annotations },
    taints: (n.spec?.taints ?? []).map((t) => ({ key: t.key, value: t.value ?? '', effect: t.effect as Taint['effect'] })),
    ready: ready === 'True' || ready === 'False' ? ready : ('Unknown' as Ready),
  };
}

/**
 * `observedAt`: when the reader saw the Lease's last renewal on its own monotonic clock
 * (src/kube/observed-time.ts); null when it was never renewed.
 */
export function toNodeLease(l: V1Lease, observedAt: number | null): ObservedNodeLease {
  const renewTime = timeOf(l.spec?.renewTime);
  return { node: l.metadata?.name ?? '', renewTime, durationSeconds: l.spec?.leaseDurationSeconds ?? 40, observedAt: renewTime === null ? null : observedAt };
}

/**
 * An agent Lease's view, or undefined when it is no agent Lease. A view that does not parse has no
 * peers, and so has one that claims to have heard a peer after the agent wrote it (a `lastSeen`
 * later than the Lease's own renewTime, both the agent's clock): it witnesses nothing.
 */
export function toAgentView(l: V1Lease, observedAt: number | null, live = true): AgentView | undefined {
  const name = l.metadata?.name ?? '';
  if (!name.startsWith(AGENT_PREFIX)) return undefined;
  const renewTime = timeOf(l.spec?.renewTime);
  let peers: Record<string, PeerEntry> = {};
  for (const [peer, e] of Object.entries(parsePeerView(l.metadata?.annotations?.[PEER_VIEW_ANNOTATION]))) {
    peers[peer] = { reachable: e.reachable, lastSeen: timeOf(e.lastSeen), suspicion: e.suspicion };
  }
  if (Object.values(peers).some((p) => p.lastSeen !== null && (renewTime === null || p.lastSeen > renewTime))) peers = {};
  return {
    module: name.slice(AGENT_PREFIX.length),
    renewTime,
    durationSeconds: l.spec?.leaseDurationSeconds ?? 3,
    observedAt: renewTime === null ? null : observedAt,
    ...(live ? {} : { listedOnly: true }),
    peers,
  };
}

/** An agent Lease's control-plane report (the guardian's input), or undefined when it has none that parses. */
export function toModuleReport(l: V1Lease, observedAt: number | null): ModuleReport | undefined {
  const v = toAgentView(l, observedAt);
  const report = parseControlPlaneReport(l.metadata?.annotations?.[CONTROL_PLANE_ANNOTATIONS.report]);
  return v && report ? { module: v.module, renewTime: v.renewTime, durationSeconds: v.durationSeconds, observedAt: v.observedAt, report } : undefined;
}

export function toObservedPod(p: V1Pod): ObservedPod {
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid ?? '',
    node: p.spec?.nodeName || undefined,
    workload: p.metadata?.labels?.[LABELS.workload],
    singleton: p.metadata?.labels?.[LABELS.singleton] === 'true',
    ownerKind: p.metadata?.ownerReferences?.find((r) => r.controller)?.kind,
    deleting: Boolean(p.metadata?.deletionTimestamp),
    ready: isReady(p),
    createdAt: timeOf(p.metadata?.creationTimestamp) ?? 0,
  };
}

/**
 * The controller's observed state, listed once: nodes, node Leases, agent Leases with their
 * reports, and the box's pods. For the CLI (`edgebox status`, `edgebox drain`), which only reads
 * and asks: one list has seen no renewal happen, so each Lease counts as renewed at its own
 * renewTime, on this host's clock as if it were the writer's. The controller, which acts,
 * never decides on this (src/kube/observed-time.ts).
 */
export async function observeBox(kc: KubeConfig, box: BoxSpec, now: number): Promise<GuardianObserved> {
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const selector = `${LABELS.box}=${box.metadata.name}`;
  const t = <T>(p: Promise<T>) => withTimeout(p, API_TIMEOUT_MS, 'the API server');
  try {
    const [nodes, nodeLeases, agentLeases, pods] = await Promise.all([
      t(core.listNode({ labelSelector: selector })),
      t(coordination.listNamespacedLease({ namespace: NODE_LEASE_NAMESPACE })),
      t(coordination.listNamespacedLease({ namespace: SYSTEM_NAMESPACE, labelSelector: selector })),
      t(core.listPodForAllNamespaces({ labelSelector: selector })),
    ]);
    const renewed = (l: V1Lease) => timeOf(l.spec?.renewTime);
    const views = agentLeases.items.map((l) => toAgentView(l, renewed(l))).filter((v): v is AgentView => v !== undefined);
    const reports = agentLeases.items.map((l) => toModuleReport(l, renewed(l))).filter((r): r is ModuleReport => r !== undefined);
    return {
      now,
      mono: now,
      since: Number.NEGATIVE_INFINITY,
      box,
      nodes: nodes.items.map(toObservedNode),
      nodeLeases: nodeLeases.items.map((l) => toNodeLease(l, renewed(l))),
      views,
      pods: pods.items.map(toObservedPod),
      reports,
    };
  } catch (e) {
    throw describeRequestError(e, { server: kc.getCurrentCluster()?.server ?? '?', verb: 'list', resource: 'nodes, leases and pods' }) ?? e;
  }
}
