import { AppsV1Api, CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { withTimeout } from '../base/timeout.js';
import { NODE_LEASE_NAMESPACE, SYSTEM_NAMESPACE } from '../contract/leases.js';
import { isReady } from '../kube/client.js';
import { timeOf } from '../kube/time.js';
import type { BoxState } from '../local/box-state.js';
import { isRunning } from '../local/processes.js';
import { sampleEtcd, voters } from './etcd-sample.js';
import type { EtcdSample } from './history.js';

/**
 * Modules whose node Lease the simulated kubelet (KWOK) has not renewed within two Lease
 * durations (at least 4 s) of `now`. Pure. KWOK and this runner share the host's clock (clock
 * faults apply to the agents), so comparing its renewTime with `now` is sound here.
 */
export function staleNodeLeases(modules: readonly string[], leases: readonly V1Lease[], now: number): string[] {
  return modules.filter((m) => {
    const lease = leases.find((l) => l.metadata?.name === m);
    const renewed = timeOf(lease?.spec?.renewTime);
    const bound = Math.max(4000, 2 * (lease?.spec?.leaseDurationSeconds ?? 0) * 1000);
    return renewed === null || now - renewed > bound;
  });
}

/**
 * Whether the box is whole again: every module alive with its agent, every node Ready, the
 * expected voters each following a leader, a controller holding a fresh leader Lease, every
 * workload of the box's namespace with all its replicas Ready. `missing` says what is not.
 *
 * With `kubelets` (the restore before a trial): also every module's node Lease renewed. KWOK
 * v0.8.0 once stopped renewing every node Lease whose update had failed with "etcdserver: request
 * timed out" (after a server's revive), for good: a trial on that box would see a live module's
 * kubelet silent. Such a box is not whole, so it is replaced instead.
 */

export interface Health {
  healthy: boolean;
  missing: string[];
  etcd: EtcdSample[];
}

const TIMEOUT_MS = 2000;

export async function sampleHealth(kc: KubeConfig, state: BoxState, o: { namespace: string; voters: number; kubelets?: boolean }): Promise<Health> {
  const missing: string[] = [];
  const modules = Object.keys(state.addresses);
  if (state.killed.length) missing.push(`killed: ${state.killed.join(', ')}`);
  for (const a of state.agents ?? []) if (!(await isRunning(a.pid, a.bin, a.script))) missing.push(`agent ${a.module} not running`);
  const read = <T>(p: Promise<T>, what: string) =>
    withTimeout(p, TIMEOUT_MS, what).catch((e: Error) => {
      missing.push(`${what}: ${e.message}`);
      return undefined;
    });
  const [nodes, nodeLeases, lease, deployments, statefulsets, etcd] = await Promise.all([
    read(kc.makeApiClient(CoreV1Api).listNode(), 'nodes'),
    read(kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: NODE_LEASE_NAMESPACE }), 'node Leases'),
    read(kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: SYSTEM_NAMESPACE, name: 'edgebox-controller' }), 'leader Lease'),
    read(kc.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace: o.namespace }), 'deployments'),
    read(kc.makeApiClient(AppsV1Api).listNamespacedStatefulSet({ namespace: o.namespace }), 'statefulsets'),
    sampleEtcd(state),
  ]);
  if (nodes) {
    for (const m of modules) {
      const n = nodes.items.find((x) => x.metadata?.name === m);
      if (!n || !isReady(n)) missing.push(`node ${m} not Ready`);
    }
  }
  if (o.kubelets && nodeLeases) for (const m of staleNodeLeases(modules, nodeLeases.items, Date.now())) missing.push(`node Lease ${m} not renewed`);
  if (lease) {
    const renewed = timeOf(lease.spec?.renewTime);
    const fresh = renewed !== null && Date.now() - renewed < 2 * (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (!lease.spec?.holderIdentity || !fresh) missing.push('no controller leader');
  }
  const workloads = [
    ...(deployments?.items ?? []).map((w) => ['Deployment', w] as const),
    ...(statefulsets?.items ?? []).map((w) => ['StatefulSet', w] as const),
  ];
  for (const [kind, w] of workloads) {
    const want = w.spec?.replicas ?? 1;
    if ((w.status?.readyReplicas ?? 0) < want) missing.push(`${kind} ${w.metadata?.name} ${w.status?.readyReplicas ?? 0}/${want} Ready`);
  }
  const names = await voters(state, etcd);
  if (!names) missing.push('no etcd member with a leader');
  else {
    const following = names.filter((n) => etcd.some((m) => m.module === n && m.leaderId));
    if (names.length !== o.voters || following.length !== o.voters)
      missing.push(`voters ${names.join(',') || 'none'} (${following.length} following a leader), want ${o.voters}`);
  }
  return { healthy: missing.length === 0, missing, etcd };
}
