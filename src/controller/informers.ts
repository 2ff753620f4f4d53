import { CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Lease, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { Log } from '../base/log.js';
import { LABELS } from '../contract/labels.js';
import type { AgentView, ObservedNode, ObservedNodeLease, ObservedPod } from './model.js';
import { toPeripheralLease, type PeripheralLease } from '../peripherals/lease.js';
import type { ModuleReport } from './guardian/view.js';
import { NODE_LEASE_NAMESPACE, SYSTEM_NAMESPACE } from '../contract/leases.js';
import { toObservedNode, toNodeLease, toAgentView, toModuleReport, toObservedPod } from './observe.js';
import { RenewalClock, renewalMarker } from '../kube/observed-time.js';
import { apiClient } from '../kube/api-client.js';
import { ResilientInformer, type InformerTimings } from '../kube/resilient-informer.js';

/**
 * The controller's view of the cluster: informers (client-node's ListWatch) on Nodes, node
 * Leases, agent Leases and the box's Pods, each a ResilientInformer (src/kube/resilient-informer.ts).
 */

// Conversions to the plain shapes decide reads. Objects come typed from a list (Date fields)
// and as raw JSON from a watch (strings); both are read the same way.

export interface ClusterView {
  nodes: ObservedNode[];
  nodeLeases: ObservedNodeLease[];
  views: AgentView[];
  pods: ObservedPod[];
}

/** The four informers of one box. */
export class BoxInformers {
  private readonly nodes: ResilientInformer<V1Node>;
  private readonly nodeLeases: ResilientInformer<V1Lease>;
  private readonly agentLeases: ResilientInformer<V1Lease>;
  private readonly pods: ResilientInformer<V1Pod>;
  /** When each Lease was seen renewed, on this host's monotonic clock, recorded as the events arrive. */
  private readonly renewals: RenewalClock;

  constructor(o: { kc: KubeConfig; box: string; log: Log; timings?: InformerTimings; mono?: () => number; onChange: () => void }) {
    const core = apiClient(o.kc, CoreV1Api);
    const coordination = apiClient(o.kc, CoordinationV1Api);
    const boxSelector = `${LABELS.box}=${o.box}`;
    const mono = o.mono ?? (() => performance.now());
    this.renewals = new RenewalClock(mono);
    const common = { kc: o.kc, log: o.log, onChange: o.onChange, monotonic: mono, ...(o.timings ? { timings: o.timings } : {}) };
    const onObject = (l: V1Lease, listed: boolean) => void this.observedAt(l, listed);
    this.nodes = new ResilientInformer<V1Node>({
      ...common,
      name: 'nodes',
      path: '/api/v1/nodes',
      labelSelector: boxSelector,
      list: () => core.listNode({ labelSelector: boxSelector }),
    });
    this.nodeLeases = new ResilientInformer<V1Lease>({
      ...common,
      name: 'node-leases',
      path: `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`,
      list: () => coordination.listNamespacedLease({ namespace: NODE_LEASE_NAMESPACE }),
      onObject,
    });
    // The agents label their Leases with the box (and module); the name prefix tells them from
    // the leader Lease in the same namespace.
    this.agentLeases = new ResilientInformer<V1Lease>({
      ...common,
      name: 'agent-leases',
      path: `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases`,
      labelSelector: boxSelector,
      list: () => coordination.listNamespacedLease({ namespace: SYSTEM_NAMESPACE, labelSelector: boxSelector }),
      onObject,
    });
    // Pods of the box's workloads carry the box label (their workload's selector); the
    // controller releases exactly those.
    this.pods = new ResilientInformer<V1Pod>({
      ...common,
      name: 'pods',
      path: '/api/v1/pods',
      labelSelector: boxSelector,
      list: () => core.listPodForAllNamespaces({ labelSelector: boxSelector }),
    });
  }

  private get all() {
    return [this.nodes, this.nodeLeases, this.agentLeases, this.pods];
  }

  start(): void {
    for (const i of this.all) i.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((i) => i.stop()));
  }

  /** Every informer has listed, and none has failed since. */
  get synced(): boolean {
    return this.all.every((i) => i.synced);
  }

  /** Lists done so far, per informer (re-lists show up here). */
  get lists(): Record<string, number> {
    return { nodes: this.nodes.lists, nodeLeases: this.nodeLeases.lists, agentLeases: this.agentLeases.lists, pods: this.pods.lists };
  }

  /** When this process started observing (monotonic ms). */
  get since(): number {
    return this.renewals.since;
  }

  /** When this host saw the Lease's current renewal (monotonic ms). */
  private observedAt(l: V1Lease, listed = false): number {
    return this.renewals.observe(leaseKey(l), renewalMarker(l.spec), listed);
  }

  /** The Lease's current renewal was seen happen, not first in a (re-)list (RenewalClock.live). */
  private live(l: V1Lease): boolean {
    return this.renewals.live(leaseKey(l));
  }

  /** The current state, or undefined while not synced. */
  snapshot(): ClusterView | undefined {
    if (!this.synced) return undefined;
    const leases = [...this.nodeLeases.list(), ...this.agentLeases.list()];
    this.renewals.keep(new Set(leases.map((l) => `${l.metadata?.namespace ?? ''}/${l.metadata?.name ?? ''}`)));
    return {
      nodes: this.nodes.list().map(toObservedNode),
      nodeLeases: this.nodeLeases.list().map((l) => toNodeLease(l, this.observedAt(l))),
      views: this.agentLeases
        .list()
        .map((l) => toAgentView(l, this.observedAt(l), this.live(l)))
        .filter((v): v is AgentView => v !== undefined),
      pods: this.pods.list().map(toObservedPod),
    };
  }

  /** The peripherals' ownership Leases (box-labelled, in the agents' namespace: the agent-Lease informer holds them too). */
  peripheralLeases(): PeripheralLease[] {
    return this.agentLeases
      .list()
      .map((l) => toPeripheralLease(l, this.observedAt(l)))
      .filter((l): l is PeripheralLease => l !== undefined);
  }

  /** The agents' control-plane reports (`edgebox.dev/control-plane` on their Leases), for the guardian. */
  controlPlaneReports(): ModuleReport[] {
    return this.agentLeases
      .list()
      .map((l) => toModuleReport(l, this.observedAt(l)))
      .filter((r): r is ModuleReport => r !== undefined);
  }

  /** The resourceVersion the node informer holds for a node, to know when it has seen a write. */
  nodeVersion(name: string): string | undefined {
    return this.nodes.list().find((n) => n.metadata?.name === name)?.metadata?.resourceVersion;
  }

  hasPod(namespace: string, name: string, uid: string): boolean {
    return this.pods.list().some((p) => p.metadata?.namespace === namespace && p.metadata?.name === name && p.metadata?.uid === uid);
  }
}

const leaseKey = (l: V1Lease) => `${l.metadata?.namespace ?? ''}/${l.metadata?.name ?? ''}`;
