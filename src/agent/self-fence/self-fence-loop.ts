import { EdgeboxError } from '../../diagnostics/diagnostic.js';
import type { Log } from '../../base/log.js';
import { decideSelfFence } from './decide.js';
import type { RuntimeDriver } from './runtime.js';

/** What /healthz shows while the module is fenced. */
export interface SelfFenceReport {
  /** RFC 3339 of the moment the agent decided to fence. */
  since: string;
  /** `namespace/name` of the singleton pods it stopped. */
  pods: string[];
}

export interface SelfFenceOptions {
  /** Modules in the box, this one included. */
  modules: number;
  /** spec.failover.selfFenceSeconds in ms. */
  boundMs: number;
  /** How often to decide; the heartbeat interval, so the fence lags the bound by at most that. */
  checkEveryMs: number;
  runtime: RuntimeDriver;
  /** Peers the agent hears now. */
  reachablePeers: () => number;
  /** Monotonic ms at which the last successful API write started; null before the first. */
  lastApiWrite: () => number | null;
  startedAt: number;
  monoNow: () => number;
  wallNow: () => number;
  log: Log;
  /** Counts fences and failed runtime calls for /metrics. */
  onFence?: () => void;
  onFailure?: () => void;
}

/** A crictl round every check would cost more CPU than everything else the agent does. */
const KEEP_FENCED_EVERY_MS = 1000;

/**
 * The shell around decideSelfFence: checks every heartbeat interval, drives the runtime, and
 * keeps what /healthz, /metrics and the log report. The state is reported as fenced from the
 * moment of the decision, before the runtime is done: a slow or failing runtime must never make
 * the module look as if it ran normally.
 */
export class SelfFence {
  private current: { since: number; pods: string[] } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private lastKept = 0;

  constructor(private readonly o: SelfFenceOptions) {}

  get report(): SelfFenceReport | null {
    return this.current ? { since: new Date(this.current.since).toISOString(), pods: [...this.current.pods] } : null;
  }

  async start(): Promise<void> {
    if (await this.o.runtime.isFenced().catch(() => false)) {
      // An agent restarted while fenced stays fenced until the usual rule lifts it.
      this.current = { since: this.o.wallNow(), pods: [] };
      this.o.log('warn', 'self-fenced from before this agent started: singletons stay stopped', { runtime: this.o.runtime.name });
    }
    this.timer = setInterval(() => void this.check(), this.o.checkEveryMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One decision and what it takes; public for tests. Never throws. */
  async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const now = this.o.monoNow();
      const verdict = decideSelfFence({
        modules: this.o.modules,
        reachablePeers: this.o.reachablePeers(),
        lastApiWrite: this.o.lastApiWrite(),
        startedAt: this.o.startedAt,
        now,
        boundMs: this.o.boundMs,
        fenced: this.current !== null,
      });
      if (verdict === 'fence') await this.fence(now);
      else if (verdict === 'lift') await this.lift();
      else if (this.current && now - this.lastKept >= KEEP_FENCED_EVERY_MS) {
        this.lastKept = now;
        const again = await this.o.runtime.keepFenced();
        if (again.length > 0) {
          this.current.pods = [...new Set([...this.current.pods, ...again])].sort();
          this.o.log('warn', 'self-fenced: stopped singletons that ran again', { pods: again });
        }
      }
    } catch (e) {
      this.o.onFailure?.();
      const d = e instanceof EdgeboxError ? e.diagnostics[0] : undefined;
      this.o.log('error', 'self-fence runtime failed', {
        runtime: this.o.runtime.name,
        code: d?.code,
        error: d?.message ?? (e as Error).message,
        hint: d?.hint,
      });
    } finally {
      this.busy = false;
    }
  }

  private async fence(now: number): Promise<void> {
    const lastWrite = this.o.lastApiWrite();
    this.current = { since: this.o.wallNow(), pods: [] };
    this.lastKept = now;
    this.o.onFence?.();
    this.o.log('warn', 'self-fencing: in a minority and cut off from the API; stopping singletons', {
      reachablePeers: this.o.reachablePeers(),
      modules: this.o.modules,
      boundMs: this.o.boundMs,
      lastApiWriteAgoMs: Math.round(now - (lastWrite ?? this.o.startedAt)),
      runtime: this.o.runtime.name,
    });
    this.current.pods = (await this.o.runtime.fence()).sort();
    this.o.log('warn', 'self-fenced', { pods: this.current.pods, runtime: this.o.runtime.name });
  }

  private async lift(): Promise<void> {
    await this.o.runtime.lift();
    const since = this.current?.since;
    this.current = null;
    this.o.log('info', 'self-fence lifted: back in a majority and the API is reachable', {
      fencedForMs: since === undefined ? null : this.o.wallNow() - since,
    });
  }
}
