import { decodeHeartbeat, type Heartbeat } from './wire.js';

/** Why a datagram was dropped; each is counted (GET /metrics) and logged once per source. */
export const REJECT_REASONS = ['malformed', 'bad-mac', 'wrong-box', 'unknown-module', 'wrong-address', 'replay'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type Verdict = { ok: true; heartbeat: Heartbeat } | { ok: false; reason: RejectReason };

export interface VerifierOptions {
  box: string;
  /** This agent's module: its own heartbeats are not peers' (and would only come from a loop). */
  self: string;
  secret: Buffer;
  /** The address each peer module sends from; modules missing here are not peers. */
  addressOf: (module: string) => string | undefined;
}

/** `::ffff:10.0.0.1` (an IPv4 sender seen on a dual-stack socket) is `10.0.0.1`. */
export function normalizeAddress(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address.toLowerCase();
}

/**
 * Decides which datagrams are heartbeats of a peer of this box. A datagram is accepted only if
 * its MAC verifies with the box secret, it names this box, it comes from another module of the
 * spec, its source address is that module's address, and its seq is above the last one
 * accepted from that module (a recorded datagram cannot be replayed to fake a live peer).
 * Holds only that last seq per peer.
 */
export class HeartbeatVerifier {
  private readonly lastSeq = new Map<string, number>();

  constructor(private readonly opts: VerifierOptions) {}

  accept(datagram: Buffer, sourceAddress: string): Verdict {
    const decoded = decodeHeartbeat(datagram, this.opts.secret);
    if (!decoded.ok) return decoded;
    const hb = decoded.heartbeat;
    if (hb.box !== this.opts.box) return { ok: false, reason: 'wrong-box' };
    const expected = hb.from === this.opts.self ? undefined : this.opts.addressOf(hb.from);
    if (expected === undefined) return { ok: false, reason: 'unknown-module' };
    if (normalizeAddress(sourceAddress) !== normalizeAddress(expected)) return { ok: false, reason: 'wrong-address' };
    const last = this.lastSeq.get(hb.from);
    if (last !== undefined && hb.seq <= last) return { ok: false, reason: 'replay' };
    this.lastSeq.set(hb.from, hb.seq);
    return { ok: true, heartbeat: hb };
  }
}
