/**
 * Runs the controller's reconcile passes one at a time: a kick while one runs asks for one more
 * right after it; a pass that has run longer than `stallMs` is given up (its `live()` turns false,
 * so it acts no more) and a new one starts at the next kick. Every request has its own timeout
 * (src/kube/api-client.ts); this catches whatever else could hang a pass, which would otherwise
 * stop all fencing while leader election goes on renewing.
 */
export interface PassRunnerOptions {
  /** One pass; it checks `live()` before each action. */
  run: (live: () => boolean) => Promise<void>;
  /** Whether this replica may act at all (it leads). */
  leading: () => boolean;
  mono: () => number;
  stallMs: number;
  onError: (e: Error) => void;
  onStall: (runningMs: number) => void;
}

export class PassRunner {
  private generation = 0;
  private running = false;
  private again = false;
  private startedAt = 0;
  private stopped = false;
  /** The pass under way (resolved when none is). */
  current: Promise<void> = Promise.resolve();

  constructor(private readonly o: PassRunnerOptions) {}

  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      const runningMs = this.o.mono() - this.startedAt;
      if (runningMs < this.o.stallMs) {
        this.again = true;
        return;
      }
      this.o.onStall(runningMs);
    }
    const gen = ++this.generation;
    const live = () => this.o.leading() && gen === this.generation && !this.stopped;
    this.running = true;
    this.again = false;
    this.startedAt = this.o.mono();
    this.current = this.o
      .run(live)
      .catch((e: Error) => this.o.onError(e))
      .finally(() => {
        // A pass given up as stalled that ends at last changes nothing of its successor's.
        if (gen !== this.generation) return;
        this.running = false;
        if (this.again) {
          this.again = false;
          // Let the watch deliver what the pass just wrote before the next one.
          setImmediate(() => this.kick());
        }
      });
  }

  /** No more passes; the one under way may finish (await `current`). */
  stop(): void {
    this.stopped = true;
  }
}
