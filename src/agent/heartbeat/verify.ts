import { addressKey } from '../../base/address.js';
import { decodeHeartbeat, type Heartbeat } from './wire.js';

/** Why a datagram was dropped; each is counted (GET /metrics) and logged once per source. */
export const REJECT_REASONS = ['malformed', 'bad-mac', 'wrong-box', 'unknown-module', 'wrong-address', 'stale-echo', 'replay'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type Verdict = { ok: true; heartbeat: Heartbeat } | { ok: false; reason: RejectReason };

export interface VerifierOptions {
  box: string;
  /** This agent's module: its own heartbeats are not peers' (and would only come from a loop). */
  self: string;
  /** This agent's incarnation: a heartbeat must echo it to count. */
  incarnation: number;
  secret: Buffer;
  /** The address each peer module sends from; modules missing here are not peers. */
  addressOf: (module: string) => string | undefined;
  /**
   * A peer's incarnation lower than the one known for it is taken as its current one once the
   * known one has been silent this long (ms): an agent whose counter could not be persisted
   * restarts with a lower one. Default 2000 ms.
   */
  adoptLowerAfterMs?: number;
}

interface Session {
  /** The peer's current incarnation as this agent knows it: what it echoes back to the peer. */
  inc: number;
  /** The last seq accepted within that incarnation (0: none yet). */
  seq: number;
  /** When a datagram of that incarnation last arrived (monotonic ms). */
  heardAt: number;
}

/**
 * Decides which datagrams are heartbeats of a peer of this box. A datagram counts only if its MAC
 * verifies with the box secret, it names this box, it comes from another module of the spec, its
 * source address is that module's address, it echoes this agent's incarnation (so it was made
 * after this agent last started: nothing recorded before can be replayed to it), and its
 * (incarnation, seq) is the peer's current incarnation with a seq above the last one accepted (a
 * recorded datagram cannot be played again later). Holds one session per peer.
 */
export class HeartbeatVerifier {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly opts: VerifierOptions) {}

  /** The incarnation of `peer` this agent echoes in its heartbeats to it; null before it heard one. */
  echoFor(peer: string): number | null {
    return this.sessions.get(peer)?.inc ?? null;
  }

  accept(datagram: Buffer, sourceAddress: string, mono: number): Verdict {
    const decoded = decodeHeartbeat(datagram, this.opts.secret);
    if (!decoded.ok) return decoded;
    const hb = decoded.heartbeat;
    if (hb.box !== this.opts.box) return { ok: false, reason: 'wrong-box' };
    const expected = hb.from === this.opts.self ? undefined : this.opts.addressOf(hb.from);
    if (expected === undefined) return { ok: false, reason: 'unknown-module' };
    if (addressKey(sourceAddress) !== addressKey(expected)) return { ok: false, reason: 'wrong-address' };
    const session = this.learn(hb, mono);
    // Its incarnation is known now (so this agent echoes it), but it is no proof of life until the
    // peer has heard this agent's incarnation and echoes it.
    if (hb.echo !== this.opts.incarnation) return { ok: false, reason: 'stale-echo' };
    if (hb.inc !== session.inc || hb.seq <= session.seq) return { ok: false, reason: 'replay' };
    session.seq = hb.seq;
    return { ok: true, heartbeat: hb };
  }

  /**
   * The peer's current incarnation: a higher one at once (it restarted); a lower one only once the
   * known one has gone silent (a restart whose counter could not be persisted). A replayed old
   * datagram therefore never takes the session back while the peer's real incarnation is heard.
   */
  private learn(hb: Heartbeat, mono: number): Session {
    const s = this.sessions.get(hb.from);
    if (s && hb.inc === s.inc) {
      s.heardAt = mono;
      return s;
    }
    const silent = s !== undefined && mono - s.heardAt >= (this.opts.adoptLowerAfterMs ?? 2000);
    if (!s || hb.inc > s.inc || silent) {
      const fresh = { inc: hb.inc, seq: 0, heardAt: mono };
      this.sessions.set(hb.from, fresh);
      return fresh;
    }
    return s;
  }
}
