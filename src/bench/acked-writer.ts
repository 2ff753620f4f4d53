import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { withTimeout } from '../base/timeout.js';

/**
 * A client that keeps writing while a fault is in place, as the box's users would: one
 * create-only ConfigMap every `everyMs`, each answer recorded. A write the API acknowledged must
 * be there, with the resourceVersion it was acknowledged with, once the box is restored; a write
 * that failed or went unanswered proves nothing either way. One slow write does not stop the
 * client: the next starts after `timeoutMs` at the latest, and a late acknowledgement still counts.
 */
export class AckedWriter {
  /** name -> resourceVersion of every acknowledged write. */
  readonly acked = new Map<string, string>();
  failed = 0;
  private seq = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly core: CoreV1Api;

  constructor(
    kc: KubeConfig,
    private readonly o: { namespace: string; label: string; prefix: string; everyMs?: number; timeoutMs?: number },
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  start(): void {
    this.stopped = false;
    this.running = this.loop();
  }

  /** Stops writing; waits a while for writes still in flight, whose answers count. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    await withTimeout(Promise.allSettled([...this.pending]), (this.o.timeoutMs ?? 2000) * 2, 'writes in flight').catch(() => undefined);
  }

  /** The acknowledged writes missing, or read back with another resourceVersion. */
  async lost(): Promise<string[]> {
    const list = await this.core.listNamespacedConfigMap({ namespace: this.o.namespace, labelSelector: this.o.label });
    const present = new Map(list.items.map((c) => [c.metadata?.name ?? '', c.metadata?.resourceVersion ?? '']));
    return [...this.acked].filter(([name, rv]) => present.get(name) !== rv).map(([name]) => name);
  }

  private async loop(): Promise<void> {
    const every = this.o.everyMs ?? 100;
    while (!this.stopped) {
      const next = Date.now() + every;
      const name = `${this.o.prefix}-${++this.seq}`;
      const [key, value = 'true'] = this.o.label.split('=');
      const tracked = this.core
        .createNamespacedConfigMap({ namespace: this.o.namespace, body: { metadata: { name, labels: { [key!]: value } }, data: { seq: String(this.seq) } } })
        .then(
          (cm) => void this.acked.set(name, cm.metadata?.resourceVersion ?? ''),
          () => void this.failed++,
        );
      this.pending.add(tracked);
      void tracked.finally(() => this.pending.delete(tracked));
      await withTimeout(tracked, this.o.timeoutMs ?? 2000, name).catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  }
}
