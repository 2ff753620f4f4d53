import { backoffMs, type Backoff } from '../base/backoff.js';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  type CoreV1Event,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1Lease,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../crd/edgebox-crd.js';
import { LABELS } from '../contract/labels.js';
import type { ClusterSnapshot, EdgeBoxObject } from './snapshot.js';
import type { ClusterState, WatchRecord } from './view.js';

/** Watch events kept for `GET /api/watch-log`: enough for a few seconds of a busy failover. */
const WATCH_LOG_SIZE = 500;
/** Deleted pods kept to pair replacements with what they replaced; Events last an hour too. */
const DEPARTED_KEEP_MS = 60 * 60_000;
const DEPARTED_MAX = 500;

export interface ClusterWatchOptions {
  kc: KubeConfig;
  /** Called for every watch event, as it arrives. */
  onChange: (record: WatchRecord) => void;
  /** Default: Date.now. */
  now?: () => number;
  /** Retry delays after a watch or list fails. Default 500 ms doubling to 10 s. */
  backoff?: Backoff;
  /** Default: setTimeout; tests inject their own. */
  delay?: (fn: () => void, ms: number) => void;
}

type Kind = 'Node' | 'Pod' | 'Event' | 'Lease' | 'EdgeBox';

interface Source {
  kind: Kind;
  informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  failures: number;
  error?: string;
  /** Listed and watching at least once since the last failure. */
  synced: boolean;
}

/**
 * Informers on everything the dashboard shows: Nodes, edgebox Pods, Events, Leases (node
 * heartbeats and agent views), EdgeBox objects. Each re-lists after its watch drops (the client
 * library does so on a clean close or a 410) and is restarted with backoff after an error, since
 * the library's informer stops there. The EdgeBox CRD may not be installed yet: that source just
 * keeps retrying at the capped delay.
 */
export class ClusterWatch {
  private readonly sources: Source[];
  private readonly departed = new Map<string, V1Pod>();
  private readonly records: WatchRecord[] = [];
  private readonly now: () => number;
  private readonly backoff: Backoff;
  private readonly delay: (fn: () => void, ms: number) => void;
  private stopped = false;

  constructor(private readonly opts: ClusterWatchOptions) {
    this.now = opts.now ?? Date.now;
    this.backoff = opts.backoff ?? { initialMs: 500, maxMs: 10_000 };
    this.delay = opts.delay ?? ((fn, ms) => void setTimeout(fn, ms).unref());
    const { kc } = opts;
    const core = kc.makeApiClient(CoreV1Api);
    const leases = kc.makeApiClient(CoordinationV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const list = <T extends KubernetesObject>(f: () => Promise<KubernetesListObject<T>>) => f as () => Promise<KubernetesListObject<KubernetesObject>>;
    this.sources = [
      this.source(
        'Node',
        makeInformer(
          kc,
          '/api/v1/nodes',
          list<V1Node>(() => core.listNode()),
        ),
      ),
      // Only edgebox's workloads: the selector is the label's existence.
      this.source(
        'Pod',
        makeInformer(
          kc,
          '/api/v1/pods',
          list<V1Pod>(() => core.listPodForAllNamespaces({ labelSelector: LABELS.workload })),
          LABELS.workload,
        ),
      ),
      this.source(
        'Event',
        makeInformer(
          kc,
          '/api/v1/events',
          list<CoreV1Event>(() => core.listEventForAllNamespaces()),
        ),
      ),
      this.source(
        'Lease',
        makeInformer(
          kc,
          '/apis/coordination.k8s.io/v1/leases',
          list<V1Lease>(() => leases.listLeaseForAllNamespaces()),
        ),
      ),
      this.source(
        'EdgeBox',
        makeInformer(
          kc,
          `/apis/${GROUP}/${VERSION}/${PLURAL}`,
          list(() => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) as Promise<KubernetesListObject<KubernetesObject>>),
        ),
      ),
    ];
  }

  start(): void {
    for (const s of this.sources) void this.run(s);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.sources.map((s) => s.informer.stop()));
  }

  /** The server the kubeconfig points at, for the page and the errors. */
  get server(): string {
    return this.opts.kc.getCurrentCluster()?.server ?? '';
  }

  state(): ClusterState {
    const nodes = this.sources[0]!;
    if (nodes.error !== undefined) return { state: 'error', server: this.server, message: nodes.error };
    return { state: nodes.synced ? 'connected' : 'connecting', server: this.server };
  }

  snapshot(box: string): ClusterSnapshot {
    const cut = this.now() - DEPARTED_KEEP_MS;
    for (const [uid, p] of this.departed) {
      if (new Date(p.metadata?.deletionTimestamp ?? 0).getTime() < cut) this.departed.delete(uid);
    }
    const items = (kind: Kind) => this.sources.find((s) => s.kind === kind)!.informer.list();
    const edgeBox = (items('EdgeBox') as EdgeBoxObject[]).find((b) => b.metadata.name === box);
    return {
      nodes: items('Node') as V1Node[],
      pods: items('Pod') as V1Pod[],
      departedPods: [...this.departed.values()],
      events: items('Event') as CoreV1Event[],
      leases: items('Lease') as V1Lease[],
      ...(edgeBox ? { edgeBox } : {}),
    };
  }

  /** The watch events received at or after `since` (epoch ms), oldest first. */
  log(since = 0): WatchRecord[] {
    return this.records.filter((r) => r.receivedAt >= since);
  }

  private source(kind: Kind, informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>): Source {
    const s: Source = { kind, informer, failures: 0, synced: false };
    const record = (type: WatchRecord['type']) => (obj: KubernetesObject) => {
      const r: WatchRecord = {
        kind,
        type,
        name: obj.metadata?.name ?? '',
        ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
        ...(obj.metadata?.resourceVersion ? { resourceVersion: obj.metadata.resourceVersion } : {}),
        receivedAt: this.now(),
      };
      if (kind === 'Pod' && type === 'delete') this.depart(obj as V1Pod, r.receivedAt);
      this.records.push(r);
      if (this.records.length > WATCH_LOG_SIZE) this.records.splice(0, this.records.length - WATCH_LOG_SIZE);
      this.opts.onChange(r);
    };
    informer.on('add', record('add'));
    informer.on('update', record('update'));
    informer.on('delete', record('delete'));
    informer.on('error', (err: unknown) => {
      s.failures++;
      s.synced = false;
      s.error = describe(err);
      this.opts.onChange({ kind, type: 'update', name: '', receivedAt: this.now() });
      if (!this.stopped) this.delay(() => void this.run(s), backoffMs(s.failures, this.backoff, Math.random()));
    });
    return s;
  }

  private async run(s: Source): Promise<void> {
    if (this.stopped) return;
    const failures = s.failures;
    await s.informer.start();
    // start() resolves once listed and watching, or after reporting an error (then failures moved).
    if (s.failures === failures && !this.stopped) {
      const wasSynced = s.synced;
      s.failures = 0;
      s.synced = true;
      delete s.error;
      if (!wasSynced) this.opts.onChange({ kind: s.kind, type: 'update', name: '', receivedAt: this.now() });
    }
  }

  private depart(pod: V1Pod, at: number): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    // A pod deleted outright has no deletionTimestamp in its last state: it left when we heard.
    const last = pod.metadata?.deletionTimestamp ? pod : { ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date(at) } };
    this.departed.set(uid, last);
    if (this.departed.size > DEPARTED_MAX) this.departed.delete(this.departed.keys().next().value!);
  }
}

function describe(err: unknown): string {
  const e = err as { code?: number; statusCode?: number; message?: string; body?: unknown };
  const code = e?.code ?? e?.statusCode;
  if (code === 404) return 'not served by this API server (404)';
  if (code === 401 || code === 403) return `the kubeconfig's credentials are refused (${code})`;
  return e?.message ?? String(err);
}
