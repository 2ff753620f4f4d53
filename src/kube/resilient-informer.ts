import { makeInformer, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { backoffMs } from '../base/backoff.js';
import type { Log } from '../base/log.js';

/**
 * client-node 1.x informers resume a watch that the server closed cleanly, and re-list after a
 * 410 Gone; but on any other error (the API server down, a connection reset, a failed list)
 * they emit `error` and stop for good. Each informer here is therefore restarted after an
 * error, as a new ListWatch, so it lists afresh, after a capped exponential backoff; and one
 * that has heard nothing (no list, no event) for `silenceMs` is restarted too, in case its
 * connection died without an error. Until every informer has listed again, `synced` is false
 * and its user (the controller) does not decide: it never acts on state older than its last list or event.
 */

export interface InformerTimings {
  /** First restart delay after an error; doubles per failure in a row. Default 200 ms. */
  retryInitialMs: number;
  /** Cap of the restart delay. Default 5 s. */
  retryMaxMs: number;
  /** Restart (re-list) an informer that heard nothing for this long. Default 15 s. */
  silenceMs: number;
}

// A 2 s cap: after an API outage (a quorum loss is 30-60 s of it) the controller lists again
// within 2 s of the API's return; a request every 2 s per informer to a dead API costs nothing.
export const DEFAULT_INFORMER_TIMINGS: InformerTimings = { retryInitialMs: 200, retryMaxMs: 2000, silenceMs: 15_000 };

export interface ResilientInformerOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  name: string;
  /** Watch path, e.g. /api/v1/nodes. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  log: Log;
  timings?: InformerTimings;
  monotonic?: () => number;
  /** Called on every change of the cache and of `synced`. */
  onChange: () => void;
  /** Every object as it arrives (`listed`: in a list; else added or updated by a watch event), before `onChange`. */
  onObject?: (obj: T, listed: boolean) => void;
}

/** One informer that re-lists after every error, with capped backoff. */
export class ResilientInformer<T extends KubernetesObject> {
  private current: ReturnType<typeof makeInformer<T>> | undefined;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastHeard = 0;
  /** Listed, and no error since. */
  synced = false;
  /** How many times it has listed (the first list included). */
  lists = 0;
  private readonly t: InformerTimings;
  private readonly mono: () => number;

  constructor(private readonly o: ResilientInformerOptions<T>) {
    this.t = o.timings ?? DEFAULT_INFORMER_TIMINGS;
    this.mono = o.monotonic ?? (() => performance.now());
  }

  start(): void {
    this.stopped = false;
    this.restart();
    this.silenceTimer = setInterval(
      () => {
        if (this.synced && this.mono() - this.lastHeard > this.t.silenceMs) {
          this.o.log('info', 'informer heard nothing for a while: re-listing', { informer: this.o.name });
          this.restart();
        }
      },
      Math.min(1000, this.t.silenceMs),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.silenceTimer);
    const inf = this.current;
    this.current = undefined;
    this.synced = false;
    await inf?.stop();
  }

  list(): readonly T[] {
    return this.synced && this.current ? this.current.list() : [];
  }

  private restart(): void {
    const old = this.current;
    this.current = undefined;
    if (this.synced) {
      this.synced = false;
      this.o.onChange();
    }
    void old?.stop();
    if (this.stopped) return;
    const inf = makeInformer<T>(
      this.o.kc,
      this.o.path,
      async () => {
        const list = await this.o.list();
        if (this.o.onObject) for (const item of list.items) this.o.onObject(item, true);
        // The ListWatch adds the items right after this promise resolves; by the next macrotask
        // the cache holds the whole list.
        setImmediate(() => {
          if (this.current !== inf) return;
          this.failures = 0;
          this.lists++;
          this.heard();
          this.synced = true;
          this.o.onChange();
        });
        return list;
      },
      this.o.labelSelector,
    );
    const changed = () => {
      if (this.current !== inf) return;
      this.heard();
      if (this.synced) this.o.onChange();
    };
    const arrived = (obj: T) => {
      if (this.current === inf) this.o.onObject?.(obj, false);
      changed();
    };
    inf.on('add', arrived);
    inf.on('update', arrived);
    inf.on('delete', changed);
    inf.on('error', (err?: unknown) => {
      if (this.current !== inf) return;
      this.failures++;
      const delay = backoffMs(this.failures, { initialMs: this.t.retryInitialMs, maxMs: this.t.retryMaxMs }, Math.random());
      this.o.log('warn', 'informer failed: re-listing after a delay', {
        informer: this.o.name,
        error: (err as Error | undefined)?.message ?? String(err),
        retryInMs: delay,
      });
      this.current = undefined;
      if (this.synced) {
        this.synced = false;
        this.o.onChange();
      }
      void inf.stop();
      clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => this.restart(), delay);
    });
    this.current = inf;
    inf.start().catch((err: unknown) => {
      this.o.log('warn', 'informer could not start', { informer: this.o.name, error: (err as Error).message });
    });
  }

  private heard(): void {
    this.lastHeard = this.mono();
  }
}
