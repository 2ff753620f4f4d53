import type { V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import { findHardware } from '../catalog/hardware.js';
import type { Plan } from '../plan/model.js';
import { cpuMillis, memoryBytes } from '../spec/quantity.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import { statusLeader, statusModules, statusPeripheralOwners, type StatusModule } from './edgebox-status.js';
import { ms, podActive, podRef, type ClusterSnapshot } from './snapshot.js';
import type { Health, ModuleView, PeripheralRef } from './view.js';
import { OUT_OF_SERVICE_TAINT } from '../contract/taints.js';
import { ownsLabel } from '../contract/peripherals.js';
import { FENCE_ANNOTATIONS } from '../contract/fencing.js';
import { SYSTEM_NAMESPACE, AGENT_LEASE_SECONDS, agentLeaseName } from '../contract/leases.js';
import { PEER_VIEW_ANNOTATION, type PeerView, parsePeerView } from '../contract/peer-view.js';

const CONTROL_PLANE_LABELS = ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master'];

export interface ModulesInput {
  box: BoxSpec;
  plan: Plan;
  cluster?: ClusterSnapshot;
  /** Modules `local kill` stopped. */
  killed: readonly string[];
  /** Epoch ms: agent views older than their lease are stale. */
  now: number;
}

/** Each module of the spec as the box shows it now. Pure. */
export function moduleViews(input: ModulesInput): ModuleView[] {
  const { box, plan, cluster } = input;
  const status = cluster?.edgeBox?.status;
  const fromStatus = new Map(statusModules(status).map((m) => [m.name, m]));
  const leader = statusLeader(status);
  const views = agentViews(cluster?.leases ?? [], input.now);
  const owners = peripheralOwners(box, plan, cluster);
  return box.spec.modules.map((m, index) => {
    const node = cluster?.nodes.find((n) => n.metadata?.name === m.name);
    const hw = findHardware(m.hardware);
    const pods = (cluster?.pods ?? []).filter((p) => p.spec?.nodeName === m.name);
    const witnesses = witnessesOf(m.name, box.spec.modules.length, views);
    const statusEntry = fromStatus.get(m.name);
    // Whole missed intervals: fractions change with every agent renewal and would redraw the page each second.
    const raw = statusEntry?.suspicion ?? witnesses?.suspicion;
    const suspicion = raw === undefined ? undefined : Math.floor(raw);
    const { health, reason } = healthOf({ node, statusEntry, witnesses, hasCluster: cluster !== undefined });
    const role = roleOf(m, plan, node, statusEntry);
    const nodeAddress = node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    return {
      name: m.name,
      slot: m.power?.slot ?? index + 1,
      hardware: {
        id: m.hardware,
        name: hw?.name ?? m.hardware,
        cpuCores: hw?.cpuCores ?? 0,
        memoryBytes: hw?.memoryBytes ?? 0,
        ...(hw?.accelerator ? { accelerator: hw.accelerator.name } : {}),
      },
      address: m.address,
      ...(nodeAddress && nodeAddress !== m.address ? { nodeAddress } : {}),
      roles: [...m.roles],
      ...role,
      etcdLeader: leader === m.name,
      health,
      healthReason: reason,
      ...(suspicion !== undefined ? { suspicion } : {}),
      ...(witnesses ? { witnesses: { unreachable: witnesses.unreachable, views: witnesses.views, quorum: witnesses.quorum } } : {}),
      poweredOff: input.killed.includes(m.name),
      ...(node ? { resources: resourcesOf(node, pods.filter(podActive)) } : {}),
      pods: pods.map(podRef),
      peripherals: peripheralsOf(box, m.name, owners),
      labels: node ? userLabels(node.metadata?.labels ?? {}) : { ...m.labels },
    };
  });
}

/** Fresh agent views by the module that published them. */
export function agentViews(leases: readonly V1Lease[], now: number): Map<string, PeerView> {
  const out = new Map<string, PeerView>();
  for (const l of leases) {
    const name = l.metadata?.name ?? '';
    const module = l.spec?.holderIdentity;
    if (l.metadata?.namespace !== SYSTEM_NAMESPACE || !module || name !== agentLeaseName(module)) continue;
    const renewed = ms(l.spec?.renewTime);
    const lifetime = (l.spec?.leaseDurationSeconds ?? AGENT_LEASE_SECONDS) * 1000;
    if (renewed === undefined || renewed + lifetime < now) continue;
    out.set(module, parsePeerView(l.metadata?.annotations?.[PEER_VIEW_ANNOTATION]));
  }
  return out;
}

interface Witnesses {
  unreachable: number;
  views: number;
  /** A quorum of the other modules, as the controller requires: floor((N-1)/2)+1. */
  quorum: number;
  suspicion?: number;
  /** Latest time any view heard from the module. */
  lastSeen?: number;
}

export function witnessesOf(module: string, moduleCount: number, views: ReadonlyMap<string, PeerView>): Witnesses | undefined {
  let unreachable = 0;
  let count = 0;
  let suspicion: number | undefined;
  let lastSeen: number | undefined;
  for (const [from, view] of views) {
    const entry = view[module];
    if (from === module || !entry) continue;
    count++;
    if (!entry.reachable) unreachable++;
    suspicion = Math.max(suspicion ?? 0, entry.suspicion);
    const seen = ms(entry.lastSeen);
    if (seen !== undefined) lastSeen = Math.max(lastSeen ?? 0, seen);
  }
  if (count === 0) return undefined;
  return {
    unreachable,
    views: count,
    quorum: Math.floor((moduleCount - 1) / 2) + 1,
    ...(suspicion !== undefined ? { suspicion } : {}),
    ...(lastSeen !== undefined ? { lastSeen } : {}),
  };
}

export function healthOf(e: { node: V1Node | undefined; statusEntry?: StatusModule | undefined; witnesses: Witnesses | undefined; hasCluster: boolean }): {
  health: Health;
  reason: string;
} {
  if (e.statusEntry?.health) return { health: e.statusEntry.health, reason: `the controller reports it ${e.statusEntry.health}` };
  if (!e.hasCluster) return { health: 'unknown', reason: 'no cluster connected' };
  if (!e.node) return { health: 'unknown', reason: 'no node has joined for this module' };
  // fence-method is on the node exactly while the controller holds it fenced (fenced-at stays
  // after rejoin, for the backoff); the taint alone may also be Kubernetes' own shutdown fence.
  if (e.node.spec?.taints?.some((t) => t.key === OUT_OF_SERVICE_TAINT.key) || e.node.metadata?.annotations?.[FENCE_ANNOTATIONS.fenceMethod]) {
    return { health: 'fenced', reason: 'fenced: out of service until it is healthy again' };
  }
  const ready = e.node.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready && ready.status !== 'True') return { health: 'failed', reason: `node Ready=${ready.status}${ready.reason ? ` (${ready.reason})` : ''}` };
  const w = e.witnesses;
  if (w && w.unreachable >= w.quorum) return { health: 'failed', reason: `${w.unreachable} of ${w.views} peers cannot reach it` };
  if (w && w.unreachable > 0) return { health: 'suspect', reason: `${w.unreachable} of ${w.views} peers cannot reach it` };
  if (w?.suspicion !== undefined && w.suspicion >= 1) return { health: 'suspect', reason: `missed ${w.suspicion} heartbeat intervals` };
  if (!ready) return { health: 'unknown', reason: 'the node reports no Ready condition yet' };
  return { health: 'healthy', reason: w ? `node Ready; ${w.views} peers hear it` : 'node Ready' };
}

function roleOf(m: ModuleSpec, plan: Plan, node: V1Node | undefined, statusEntry: StatusModule | undefined): Pick<ModuleView, 'role' | 'roleSource'> {
  if (statusEntry?.role) return { role: statusEntry.role, roleSource: 'status' };
  const labels = node?.metadata?.labels ?? {};
  // Only K3s servers carry these labels; their absence proves nothing on a simulated node.
  if (CONTROL_PLANE_LABELS.some((k) => labels[k] === 'true')) return { role: 'server', roleSource: 'node' };
  return { role: plan.controlPlane.servers.includes(m.name) ? 'server' : 'agent', roleSource: 'plan' };
}

function resourcesOf(node: V1Node, pods: readonly V1Pod[]): NonNullable<ModuleView['resources']> {
  let cpu = 0;
  let mem = 0;
  for (const p of pods) {
    for (const c of p.spec?.containers ?? []) {
      cpu += cpuMillis(c.resources?.requests?.cpu);
      mem += memoryBytes(c.resources?.requests?.memory);
    }
  }
  return {
    cpuRequestedMillis: cpu,
    cpuAllocatableMillis: cpuMillis(node.status?.allocatable?.cpu),
    memoryRequestedBytes: mem,
    memoryAllocatableBytes: memoryBytes(node.status?.allocatable?.memory),
  };
}

/** Exclusive peripheral -> its owner, and whether the cluster or only the plan says so. */
function peripheralOwners(box: BoxSpec, plan: Plan, cluster: ClusterSnapshot | undefined): Map<string, { module: string; source: 'cluster' | 'plan' }> {
  const out = new Map<string, { module: string; source: 'cluster' | 'plan' }>();
  const fromStatus = statusPeripheralOwners(cluster?.edgeBox?.status);
  for (const p of box.spec.peripherals.filter((x) => x.exclusive)) {
    const labelled = cluster?.nodes.find((n) => n.metadata?.labels?.[ownsLabel(p.name)] === 'true')?.metadata?.name;
    const live = fromStatus.get(p.name) ?? labelled;
    if (live) {
      out.set(p.name, { module: live, source: 'cluster' });
      continue;
    }
    // Until the peripheral issue records owners: the module the plan puts its workloads on.
    const planned = box.spec.workloads
      .filter((w) => w.peripherals.includes(p.name))
      .flatMap((w) => plan.placements[w.name] ?? [])
      .find((m) => p.attachedTo.includes(m));
    if (planned) out.set(p.name, { module: planned, source: 'plan' });
  }
  return out;
}

function peripheralsOf(box: BoxSpec, module: string, owners: Map<string, { module: string; source: 'cluster' | 'plan' }>): PeripheralRef[] {
  return box.spec.peripherals
    .filter((p) => p.attachedTo.includes(module))
    .map((p) => {
      const owner = owners.get(p.name);
      return {
        name: p.name,
        kind: p.kind,
        exclusive: p.exclusive,
        owner: owner?.module === module,
        ...(owner?.module === module ? { ownerSource: owner.source } : {}),
      };
    });
}

/** Labels without a prefix: the ones people set (a spec's `labels`), not Kubernetes' or edgebox's own. */
export function userLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(labels)
      .filter(([k]) => !k.includes('/'))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}
