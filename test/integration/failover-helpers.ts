/**
 * What the self-healing integration tests share: the fixture box, applying it, and reading
 * pods, taints and Leases the way the assertions need them. No mocks: everything reads the
 * local box's real API server.
 */
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, Watch, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { expect } from 'vitest';
import { applyBox } from '../../src/apply/apply.js';
import { Cluster } from '../../src/apply/cluster.js';
import { LABELS } from '../../src/contract/labels.js';
import { loadSpec } from '../../src/spec/load.js';
import { ROOT } from './apply-helpers.js';
import { eventually, type Box } from './harness.js';

export const SPEC = join(ROOT, 'test/fixtures/failover-box.yaml');
export const NS = 'failover-cell';
export const OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';
/** Modules able to run each workload of the fixture (its capabilities and peripherals). */
export const CAPABLE: Record<string, string[]> = {
  detector: ['vision-1', 'vision-2'],
  recorder: ['core-2', 'core-3'],
  motor: ['core-1', 'motor-1'],
};

export interface PodRef {
  name: string;
  uid: string;
  node: string;
}

export const isReady = (p: V1Pod) => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
export const outOfService = (n: V1Node) => n.spec?.taints?.find((t) => t.key === OUT_OF_SERVICE);

/** Applies the fixture and waits until every workload has a Ready pod. */
export async function applyFixture(box: Box): Promise<void> {
  const { box: spec } = await loadSpec(SPEC);
  await applyBox({ box: spec, cluster: new Cluster(box.kc) });
  for (const w of Object.keys(CAPABLE)) await readyPod(box.kc, w, { timeoutMs: 60_000 });
}

/** The workload's one Ready, not terminating pod. */
export async function readyPod(kc: KubeConfig, workload: string, opts: { timeoutMs: number; notOn?: string; notUid?: string }): Promise<PodRef> {
  const core = kc.makeApiClient(CoreV1Api);
  return eventually(
    async () => {
      const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: `${LABELS.workload}=${workload}` })).items;
      const ready = pods.filter((p) => isReady(p) && !p.metadata?.deletionTimestamp && p.spec?.nodeName !== opts.notOn && p.metadata?.uid !== opts.notUid);
      expect(
        ready.map((p) => p.metadata?.name),
        `${workload}: ${pods.map((p) => `${p.metadata?.name}@${p.spec?.nodeName}`).join(', ')}`,
      ).toHaveLength(1);
      const p = ready[0]!;
      return { name: p.metadata!.name!, uid: p.metadata!.uid!, node: p.spec!.nodeName! };
    },
    { timeoutMs: opts.timeoutMs, intervalMs: 100, message: `a Ready pod of ${workload}${opts.notOn ? ` off ${opts.notOn}` : ''}` },
  );
}

/** The module that fails over, once the controller fenced it with the out-of-service taint. */
export async function fencedTaint(kc: KubeConfig, node: string, timeoutMs: number): Promise<{ timeAdded: number }> {
  const core = kc.makeApiClient(CoreV1Api);
  return eventually(
    async () => {
      const t = outOfService(await core.readNode({ name: node }));
      expect(t, `${OUT_OF_SERVICE} on ${node}`).toBeTruthy();
      return { timeAdded: new Date(t!.timeAdded ?? 0).getTime() };
    },
    { timeoutMs, intervalMs: 100, message: `${node} fenced (${OUT_OF_SERVICE} taint)` },
  );
}

/** After a revive: the taint is gone and the node Ready again; returns when that was seen. */
export async function rejoined(kc: KubeConfig, node: string, timeoutMs: number): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  await eventually(
    async () => {
      const n = await core.readNode({ name: node });
      expect(outOfService(n), `${OUT_OF_SERVICE} still on ${node}`).toBeUndefined();
      expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    },
    { timeoutMs, intervalMs: 100, message: `${node} rejoined (taint removed, Ready)` },
  );
  return Date.now();
}

/** Which controller holds the leader Lease (`edgebox-system/edgebox-controller`). */
export async function leader(kc: KubeConfig): Promise<string | undefined> {
  const lease = await kc
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: 'edgebox-system', name: 'edgebox-controller' })
    .catch(() => undefined);
  return lease?.spec?.holderIdentity ?? undefined;
}

export interface PodEvent {
  type: string;
  name: string;
  uid: string;
  node?: string;
  ready: boolean;
  terminating: boolean;
  /** When the event arrived (ms since the epoch). */
  at: number;
}

/**
 * Every event of a workload's pods, in the order the API server sent them (one watch: events of
 * one stream are ordered). Used to check that a singleton never had a second copy while the first
 * one was still live.
 */
export async function watchPods(kc: KubeConfig, workload: string): Promise<{ events: PodEvent[]; stop: () => void }> {
  const events: PodEvent[] = [];
  const req = await new Watch(kc).watch(
    `/api/v1/namespaces/${NS}/pods`,
    { labelSelector: `${LABELS.workload}=${workload}` },
    (type, p: V1Pod) => {
      events.push({
        type,
        name: p.metadata?.name ?? '',
        uid: p.metadata?.uid ?? '',
        ready: isReady(p),
        terminating: Boolean(p.metadata?.deletionTimestamp),
        at: Date.now(),
        ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
      });
    },
    () => {},
  );
  // The initial ADDED events prove the watch is open before the caller acts.
  await eventually(async () => expect(events.length).toBeGreaterThan(0), { timeoutMs: 10_000, message: `the pod watch of ${workload}` });
  return { events, stop: () => req.abort() };
}

/** Pod uids of the workloads, to show a test left them untouched. */
export async function podUids(kc: KubeConfig): Promise<Record<string, string>> {
  const pods = (await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NS })).items;
  return Object.fromEntries(pods.filter((p) => !p.metadata?.deletionTimestamp).map((p) => [p.metadata!.name!, p.metadata!.uid!]));
}

/** Nodes with the out-of-service taint or the controller's fencing annotation. */
export async function fencedNodes(kc: KubeConfig): Promise<string[]> {
  const nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items;
  return nodes.filter((n) => outOfService(n) || n.metadata?.annotations?.['edgebox.dev/fenced-at']).map((n) => n.metadata!.name!);
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
