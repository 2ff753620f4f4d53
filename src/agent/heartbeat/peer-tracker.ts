/**
 * What one agent believes about each of its peers, from the heartbeats it accepted. Pure: time
 * comes in as an argument (a monotonic clock in ms, so an NTP step on a module without an RTC
 * never makes every peer look dead at once) and nothing here does I/O.
 *
 * Detector: missed heartbeats (docs/decisions/0001-self-healing.md). Suspicion is the number of
 * intervals since the last accepted heartbeat; a peer is unreachable once that reaches
 * `missedHeartbeats`. A peer not heard from yet counts as last heard when the tracker started:
 * a freshly (re)started agent must not report its peers unreachable before it could have heard
 * from them, or it would be a false witness against them.
 */

export interface PeerTrackerOptions {
  /** The other modules of the box. */
  peers: readonly string[];
  intervalMs: number;
  missedHeartbeats: number;
  /** When the tracker started, on the same clock as every other `now`. */
  startedAt: number;
}

export interface PeerState {
  reachable: boolean;
  /** When the last heartbeat was accepted; null if none was yet. */
  lastHeard: number | null;
  /** Elapsed intervals since the last accepted heartbeat (or since the start, before the first). */
  suspicion: number;
}

export interface Transition {
  peer: string;
  reachable: boolean;
  at: number;
}

interface Entry {
  lastHeard: number | null;
  reachable: boolean;
}

export class PeerTracker {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: PeerTrackerOptions) {
    for (const p of opts.peers) this.entries.set(p, { lastHeard: null, reachable: true });
  }

  /** The window after the last heartbeat at whose end a silent peer turns unreachable. */
  get windowMs(): number {
    return this.opts.intervalMs * this.opts.missedHeartbeats;
  }

  /**
   * Records an accepted heartbeat from `peer` at `now`. Returns the transition when the peer was
   * unreachable until now. Unknown peers are ignored (the verifier only lets spec modules through).
   */
  heard(peer: string, now: number): Transition | null {
    const e = this.entries.get(peer);
    if (!e) return null;
    e.lastHeard = now;
    if (e.reachable) return null;
    e.reachable = true;
    return { peer, reachable: true, at: now };
  }

  /** Marks every peer silent for a whole window as unreachable; returns those transitions. */
  tick(now: number): Transition[] {
    const out: Transition[] = [];
    for (const [peer, e] of this.entries) {
      if (e.reachable && now - this.since(e) >= this.windowMs) {
        e.reachable = false;
        out.push({ peer, reachable: false, at: now });
      }
    }
    return out;
  }

  /**
   * The earliest time at which `tick` may find a transition: the end of the window of the
   * reachable peer heard from longest ago; null when every peer is already unreachable (only a
   * heartbeat, not time, changes anything then).
   */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const e of this.entries.values()) {
      if (!e.reachable) continue;
      const due = this.since(e) + this.windowMs;
      if (next === null || due < next) next = due;
    }
    return next;
  }

  /** Each peer's state at `now`, in the order the peers were given. Call `tick(now)` first. */
  states(now: number): Map<string, PeerState> {
    const out = new Map<string, PeerState>();
    for (const [peer, e] of this.entries) {
      out.set(peer, { reachable: e.reachable, lastHeard: e.lastHeard, suspicion: Math.max(0, now - this.since(e)) / this.opts.intervalMs });
    }
    return out;
  }

  private since(e: Entry): number {
    return e.lastHeard ?? this.opts.startedAt;
  }
}
