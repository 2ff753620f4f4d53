import { backoffMs } from '../../base/backoff.js';
import { EdgeboxError, failure } from '../../diagnostics/diagnostic.js';
import { LABELS } from '../../contract/labels.js';
import { apiError, updateWithRetry, type ApiClient } from '../api/client.js';
import { PEER_VIEW_ANNOTATION, type PeerView } from '../../contract/peer-view.js';
import { microTime } from '../../kube/time.js';
import { SYSTEM_NAMESPACE, AGENT_LEASE_SECONDS, agentLeaseName } from '../../contract/leases.js';

const leasesPath = `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases`;
const leasePath = (module: string) => `${leasesPath}/${agentLeaseName(module)}`;
type Lease = Record<string, unknown> & { metadata?: Record<string, unknown> & { annotations?: Record<string, string> }; spec?: Record<string, unknown> };

/** The agent Lease with this view and renewTime, keeping whatever else `current` has. */
export function leaseWithView(
  current: Lease | undefined,
  opts: { box: string; module: string; view: PeerView; wallNow: number; annotations?: Record<string, string> },
): Lease {
  const now = microTime(opts.wallNow);
  const meta = current?.metadata ?? {};
  return {
    ...current,
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      ...meta,
      name: agentLeaseName(opts.module),
      namespace: SYSTEM_NAMESPACE,
      labels: { ...(meta.labels as Record<string, string> | undefined), [LABELS.box]: opts.box, [LABELS.module]: opts.module },
      annotations: { ...meta.annotations, ...opts.annotations, [PEER_VIEW_ANNOTATION]: JSON.stringify(opts.view) },
    },
    spec: {
      ...current?.spec,
      holderIdentity: opts.module,
      leaseDurationSeconds: AGENT_LEASE_SECONDS,
      acquireTime: current?.spec?.acquireTime ?? now,
      renewTime: now,
    },
  };
}

type Client = Pick<ApiClient, 'request' | 'server'>;

/**
 * Writes the agent's Lease once. Normally one PUT on the Lease last written (its
 * resourceVersion is the precondition); on 409 it re-reads and retries; on 404 it creates the
 * Lease, and the namespace first if that is what is missing. Returns the Lease as stored.
 */
export async function writeAgentLease(
  client: Client,
  cached: Lease | undefined,
  opts: { box: string; module: string; view: () => PeerView; wallNow: () => number; annotations?: () => Record<string, string> },
): Promise<Lease> {
  const path = leasePath(opts.module);
  const build = (current: Lease | undefined) =>
    leaseWithView(current, {
      box: opts.box,
      module: opts.module,
      view: opts.view(),
      wallNow: opts.wallNow(),
      ...(opts.annotations ? { annotations: opts.annotations() } : {}),
    });
  let res = cached
    ? await client.request('PUT', path, build(cached))
    : await client.request('GET', path).then((r) => (r.status === 200 ? client.request('PUT', path, build(r.body as Lease)) : r));
  if (res.status === 409) res = await updateWithRetry(client, path, (current) => build(current as Lease));
  if (res.status === 404) res = await createLease(client, build(undefined));
  if (res.status === 200 || res.status === 201) return res.body as Lease;
  throw apiError(res, `writing Lease ${SYSTEM_NAMESPACE}/${agentLeaseName(opts.module)}`, client.server);
}

async function createLease(client: Client, lease: Lease) {
  let res = await client.request('POST', leasesPath, lease);
  if (res.status === 404) {
    // The namespace is missing (a fresh cluster): create it; 409 means another agent just did.
    const ns = await client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SYSTEM_NAMESPACE } });
    if (ns.status !== 201 && ns.status !== 409) throw apiError(ns, `creating namespace ${SYSTEM_NAMESPACE}`, client.server);
    res = await client.request('POST', leasesPath, lease);
  }
  // Another process of the same module created it meanwhile: the next write updates it.
  if (res.status === 409)
    throw failure(
      'agent.lease-conflict',
      `Lease ${SYSTEM_NAMESPACE}/${lease.metadata?.name as string} was created concurrently`,
      'the next renewal updates it',
    );
  return res;
}

export interface LeasePublisherOptions {
  client: Client;
  box: string;
  module: string;
  /** The current view, read at each write. */
  view: () => PeerView;
  wallNow: () => number;
  /** More annotations of this agent, read at each write (the control-plane report, a quorum-loss recovery). */
  annotations?: () => Record<string, string>;
  /** Default 1000 ms. */
  renewEveryMs?: number;
  /** After a failed write, waits double each time from here... Default 250 ms. */
  retryInitialMs?: number;
  /** ...up to this. Default 2000 ms. */
  retryMaxMs?: number;
  /** Each write's outcome; the error when it failed. */
  onWrite?: (ok: boolean, error?: EdgeboxError) => void;
  /** Monotonic ms for `lastWriteStartedMono`. Default: wallNow. */
  monoNow?: () => number;
}

/**
 * Keeps the agent's Lease renewed: a write every `renewEveryMs`, one at once when `poke()`d
 * (a peer changed state), at most one in flight. While the API cannot be reached it retries
 * with capped backoff and never throws: heartbeating goes on regardless.
 */
export class LeasePublisher {
  private cached: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private again = false;
  private stopped = false;
  private failures = 0;
  private readonly renewEveryMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  /** Wall time of the last successful write; null before the first. */
  lastWrite: number | null = null;
  /**
   * Monotonic time at which the last successful write started: never later than the renewTime it
   * stored, so an agent that fences itself this long after it does so no later than the
   * controller, which counts from that renewTime, expects (src/agent/self-fence).
   */
  lastWriteStartedMono: number | null = null;

  constructor(private readonly opts: LeasePublisherOptions) {
    this.renewEveryMs = opts.renewEveryMs ?? 1000;
    this.retryInitialMs = opts.retryInitialMs ?? 250;
    // Within 2 s of the API's return the view is published again (the guardian waits for fresh views).
    this.retryMaxMs = opts.retryMaxMs ?? 2000;
  }

  /** True when the last write reached the API server and was stored. */
  get apiReachable(): boolean {
    return this.lastWrite !== null && this.failures === 0;
  }

  start(): void {
    this.poke();
  }

  /** Writes as soon as possible (after the write in flight, if any). */
  poke(): void {
    if (this.stopped) return;
    if (this.writing) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    void this.write();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async write(): Promise<void> {
    this.writing = true;
    this.again = false;
    const started = (this.opts.monoNow ?? this.opts.wallNow)();
    try {
      this.cached = await writeAgentLease(this.opts.client, this.cached, this.opts);
      this.failures = 0;
      this.lastWrite = this.opts.wallNow();
      this.lastWriteStartedMono = started;
      this.opts.onWrite?.(true);
    } catch (e) {
      // Next time read the Lease afresh: the cached resourceVersion may be what failed.
      this.cached = undefined;
      this.failures++;
      this.opts.onWrite?.(false, e instanceof EdgeboxError ? e : failure('agent.lease-write-failed', (e as Error).message));
    } finally {
      this.writing = false;
    }
    if (this.stopped) return;
    if (this.again) {
      this.poke();
      return;
    }
    const delay = this.failures ? backoffMs(this.failures, { initialMs: this.retryInitialMs, maxMs: this.retryMaxMs }, Math.random()) : this.renewEveryMs;
    this.timer = setTimeout(() => this.poke(), delay);
    // The heartbeat socket keeps the process alive; this timer alone must not.
    this.timer.unref();
  }
}
