import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { SYSTEM_NAMESPACE } from '../agent/heartbeat/lease-publisher.js';
import { GROUP, PLURAL, VERSION } from '../crd/edgebox-crd.js';
import { failure } from '../diagnostics/diagnostic.js';
import type { GuardianObserved, ModuleReport } from '../controller/guardian/view.js';
import { NODE_LEASE_NAMESPACE, toAgentView, toModuleReport, toNodeLease, toObservedNode, toObservedPod } from '../controller/informers.js';
import type { AgentView } from '../controller/model.js';
import { describeRequestError } from '../kube/request-errors.js';
import { isNotFound } from '../kube/client.js';
import { boxSchema, type BoxSpec } from '../spec/schema.js';
import { LABELS } from '../spec/labels.js';
import type { EdgeBoxStatusBody } from './box-status.js';

/**
 * One-shot reads for the CLI (`edgebox status`, `edgebox drain`): the EdgeBox object with its
 * status, and the same observed state the controller's informers hold, listed once.
 */

/** How long one request may take before the API counts as unavailable (a quorum-less API server hangs rather than fails). */
export const API_TIMEOUT_MS = 5000;

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms / 1000} s`), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export interface EdgeBoxRead {
  box: BoxSpec;
  status: EdgeBoxStatusBody | undefined;
}

interface EdgeBoxObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
  spec?: unknown;
  status?: EdgeBoxStatusBody;
}

/** The EdgeBox named `name`, or the only one in the cluster. */
export async function readEdgeBox(kc: KubeConfig, name?: string): Promise<EdgeBoxRead> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const ctx = { server: kc.getCurrentCluster()?.server ?? '?', verb: name ? 'get' : 'list', resource: `${PLURAL}.${GROUP}`, ...(name ? { target: name } : {}) };
  let obj: EdgeBoxObject;
  try {
    if (name) obj = (await withTimeout(api.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name }), API_TIMEOUT_MS, 'the API server')) as EdgeBoxObject;
    else {
      const list = (await withTimeout(api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }), API_TIMEOUT_MS, 'the API server')) as { items?: EdgeBoxObject[] };
      const items = list.items ?? [];
      if (items.length !== 1) {
        throw failure('status.which-box', items.length ? `the cluster has ${items.length} EdgeBox objects: ${items.map((i) => i.metadata?.name).join(', ')}` : 'the cluster has no EdgeBox object',
          items.length ? 'pass --box <name>' : 'run `edgebox apply <spec>` first (it creates the EdgeBox object)');
      }
      obj = items[0]!;
    }
  } catch (e) {
    if (name && isNotFound(e)) throw failure('status.no-edgebox', `the cluster has no EdgeBox ${name}`, `run \`edgebox apply <spec>\` first (it creates the EdgeBox object the controller reports on)`);
    throw describeRequestError(e, ctx) ?? e;
  }
  const parsed = boxSchema.safeParse({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata?.name }, spec: obj.spec });
  if (!parsed.success) {
    throw failure('status.bad-edgebox', `the EdgeBox ${obj.metadata?.name ?? ''} in the cluster does not hold a valid spec: ${parsed.error.issues[0]?.message ?? ''}`, 'apply the spec again with `edgebox apply <spec>`');
  }
  return { box: parsed.data, status: obj.status };
}

/** The controller's observed state, listed once: nodes, node Leases, agent Leases with their reports, and the box's pods. */
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
    const views = agentLeases.items.map(toAgentView).filter((v): v is AgentView => v !== undefined);
    const reports = agentLeases.items.map(toModuleReport).filter((r): r is ModuleReport => r !== undefined);
    return {
      now, box,
      nodes: nodes.items.map(toObservedNode),
      nodeLeases: nodeLeases.items.map(toNodeLease),
      views,
      pods: pods.items.map(toObservedPod),
      reports,
    };
  } catch (e) {
    throw describeRequestError(e, { server: kc.getCurrentCluster()?.server ?? '?', verb: 'list', resource: 'nodes, leases and pods' }) ?? e;
  }
}
