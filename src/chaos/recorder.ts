import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { withTimeout } from '../base/timeout.js';
import { FENCE_ANNOTATIONS } from '../contract/fencing.js';
import { NODE_LEASE_NAMESPACE, SYSTEM_NAMESPACE } from '../contract/leases.js';
import { timeOf } from '../kube/time.js';
import { isReady } from '../kube/client.js';
import type { BoxState } from '../local/box-state.js';
import { toPeripheralLease } from '../peripherals/lease.js';
import { historyFilesIn, readHistory } from '../peripherals/read-history.js';
import { sampleEtcd } from './etcd-sample.js';
import type { HistoryEvent } from './history.js';

/**
 * What runs beside a trial and writes its history: a client that writes continuously (create-only
 * ConfigMaps, each acknowledgement with its resourceVersion), and readers of the peripheral
 * Leases, the nodes' fences and Leases, and the etcd members. Everything goes through the box's API address,
 * as any client's would, except the etcd rounds (each member directly). A request that hangs
 * is given up after a while; a write acknowledged late is still recorded as acknowledged.
 */

export const WRITE_NAMESPACE = 'edgebox-chaos';
const TRIAL_LABEL = 'edgebox.dev/chaos-trial';
const WRITE_EVERY_MS = 100;
const READ_EVERY_MS = 250;
const REQUEST_MS = 2000;
const OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';
/** How often the agents' grant histories are read: a grant's runner time is known to this much (grant-clock.ts). */
const GRANTS_EVERY_MS = 1000;

export class Recorder {
  readonly events: HistoryEvent[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  private readonly core: CoreV1Api;
  private readonly seenGrants = new Set<string>();
  private grantsRead = false;
  private startedAt = Date.now();

  constructor(
    private readonly kc: KubeConfig,
    private readonly state: BoxState,
    private readonly trial: number,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  add(e: HistoryEvent): void {
    this.events.push(e);
  }

  /** The namespace of the writes (kept across trials: each trial's names are its own). */
  static async prepare(kc: KubeConfig): Promise<void> {
    await kc
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: WRITE_NAMESPACE } } })
      .catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
  }

  start(): void {
    this.startedAt = Date.now();
    this.loops = [
      this.every(WRITE_EVERY_MS, () => this.write()),
      this.every(READ_EVERY_MS, () => this.read()),
      this.every(GRANTS_EVERY_MS, () => this.grants(this.startedAt)),
    ];
  }

  /** Stops writing and reading; waits (a while) for writes still in flight, whose answers count. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await withTimeout(Promise.allSettled([...this.pending]), REQUEST_MS * 2, 'writes in flight').catch(() => undefined);
  }

  private async every(ms: number, step: () => Promise<void>): Promise<void> {
    while (!this.stopped) {
      const next = Date.now() + ms;
      await step();
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  }

  private n = 0;

  private async write(): Promise<void> {
    const name = `t${this.trial}-w${++this.n}`;
    const req = this.core.createNamespacedConfigMap({
      namespace: WRITE_NAMESPACE,
      body: { metadata: { name, labels: { [TRIAL_LABEL]: String(this.trial) } }, data: { n: String(this.n) } },
    });
    const tracked = req.then(
      (cm) => this.add({ type: 'ack', t: Date.now(), name, rv: cm.metadata?.resourceVersion ?? '' }),
      (e: Error) => this.add({ type: 'write-failed', t: Date.now(), name, error: e.message.slice(0, 200) }),
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
    // The next write waits for this one, or for the timeout: one slow write does not stop the client.
    await withTimeout(tracked, REQUEST_MS, name).catch(() => undefined);
  }

  private async read(): Promise<void> {
    const t = Date.now();
    const quiet = <T>(p: Promise<T>) => withTimeout(p, REQUEST_MS, 'read').catch(() => undefined);
    const coordination = this.kc.makeApiClient(CoordinationV1Api);
    const [leases, nodeLeases, nodes, members] = await Promise.all([
      quiet(coordination.listNamespacedLease({ namespace: SYSTEM_NAMESPACE })),
      quiet(coordination.listNamespacedLease({ namespace: NODE_LEASE_NAMESPACE })),
      quiet(this.core.listNode()),
      sampleEtcd(this.state),
    ]);
    for (const raw of leases?.items ?? []) {
      const l = toPeripheralLease(raw);
      if (l) this.add({ type: 'lease', t, peripheral: l.peripheral, holder: l.holder, token: l.token });
    }
    for (const l of nodeLeases?.items ?? []) this.add({ type: 'node-lease', t, node: l.metadata?.name ?? '', renewTime: timeOf(l.spec?.renewTime) });
    for (const n of nodes?.items ?? []) {
      const a = n.metadata?.annotations ?? {};
      const fenced = a[FENCE_ANNOTATIONS.fenceMethod] !== undefined || (n.spec?.taints ?? []).some((x) => x.key === OUT_OF_SERVICE);
      const fencedAt = Date.parse(a[FENCE_ANNOTATIONS.fencedAt] ?? '');
      this.add({ type: 'node', t, node: n.metadata?.name ?? '', ready: isReady(n), fenced, ...(Number.isNaN(fencedAt) ? {} : { fencedAt }) });
    }
    this.add({ type: 'etcd', t, members });
  }

  /** The trial's writes as they read back now (name -> resourceVersion). */
  async readBack(): Promise<void> {
    const list = await withTimeout(
      this.core.listNamespacedConfigMap({ namespace: WRITE_NAMESPACE, labelSelector: `${TRIAL_LABEL}=${this.trial}` }),
      10_000,
      'read-back',
    );
    const present = Object.fromEntries(list.items.map((c) => [c.metadata?.name ?? '', c.metadata?.resourceVersion ?? '']));
    this.add({ type: 'final', t: Date.now(), present });
  }

  /**
   * The agents' grants and releases (their history files in the box dir), each once, at the time
   * the runner first read it: its written `at` is its module's clock, which a clock fault steps
   * (grant-clock.ts puts it back on the runner's with this). Read every second while the trial
   * runs, and once more at its end. The first read also finds earlier trials' lines: of those,
   * only each file's last grant or release, and only a grant still valid at `from` by its written
   * time, is this trial's: an earlier trial's clock-ahead fault left lines whose written times are
   * minutes ahead, which a filter by written time alone took for current grants (seed 2, trial 20
   * on the K3s engine: 72 false token regressions after trial 14 set a1 234 s ahead).
   */
  async grants(from: number): Promise<void> {
    const records = (await readHistory(await historyFilesIn(this.state.dir)).catch(() => [])).filter((r) => r.kind === 'grant' || r.kind === 'release');
    const t = Date.now();
    const baseline = !this.grantsRead;
    this.grantsRead = true;
    const lastOfFile = new Map<string, number>();
    for (const r of records) lastOfFile.set(r.file, Math.max(lastOfFile.get(r.file) ?? 0, r.line));
    for (const r of records) {
      const key = `${r.file}:${r.line}`;
      if (this.seenGrants.has(key)) continue;
      this.seenGrants.add(key);
      const current = r.line === lastOfFile.get(r.file) && r.kind === 'grant' && (r.untilMs ?? r.atMs) >= from;
      if (!baseline || current) this.add({ type: 'grant', t, record: r });
    }
  }
}
