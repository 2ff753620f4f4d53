import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseSummary, type ControlPlaneSummary } from '../quorum/summary.js';

/**
 * One heartbeat datagram, to one peer:
 *
 *   "EBH2" (4 bytes) | HMAC-SHA256(secret, "EBH2" | payload) (32 bytes) | payload (UTF-8 JSON)
 *
 * payload = {"box", "from", "inc", "seq", "echo", "sentAt", "cp"?}. The MAC covers the payload
 * bytes exactly as sent, so there is no canonical JSON form to agree on, and it is checked before
 * the payload is parsed: nothing unauthenticated is ever interpreted.
 *
 * Freshness without clocks (docs/decisions/0004-clocks-and-faults.md): `inc` is the sender's
 * incarnation, a counter its agent persists and raises at every start (src/agent/heartbeat/
 * incarnation.ts), and `seq` counts its heartbeats within that incarnation; `echo` is the
 * receiver's own incarnation as the sender last heard it. A receiver takes a heartbeat as proof
 * of life only when it echoes the receiver's current incarnation, so nothing recorded before the
 * receiver's last start can be replayed to it, and a sender whose clock stepped back is never
 * locked out: no wall clock enters either number.
 */
export interface Heartbeat {
  box: string;
  from: string;
  /** The sender's incarnation: raised at every start of its agent. */
  inc: number;
  /** Strictly increasing within one incarnation, from 1. */
  seq: number;
  /** The receiver's incarnation as the sender last heard it; null before it heard the receiver. */
  echo: number | null;
  /** The sender's wall clock; informative only (clocks of modules may differ). */
  sentAt: string;
  /**
   * The sender's control plane, for quorum-loss recovery (src/agent/quorum). Optional both ways:
   * older agents neither send nor read it, and a summary that does not parse is dropped alone.
   */
  cp?: ControlPlaneSummary;
}

const MAGIC = Buffer.from('EBH2', 'ascii');
const MAC_BYTES = 32;
/**
 * Anything larger is dropped unread. A heartbeat is about 120 bytes, 200 with a control-plane
 * summary; 1200 stays under the IPv6 minimum MTU (1280 minus IP and UDP headers), so no
 * datagram is ever fragmented. `encodeHeartbeat` never produces more.
 */
export const MAX_DATAGRAM_BYTES = 1200;

function mac(secret: Buffer, payload: Buffer): Buffer {
  return createHmac('sha256', secret).update(MAGIC).update(payload).digest();
}

/**
 * Signs a heartbeat. A summary too large for one datagram (witness statements about many peers
 * with long names) loses its `down` statements first, then goes whole: a heartbeat that peers
 * would drop as oversized makes its sender look dead, and a missing statement only ever delays a
 * recovery (nothing is reset on a statement that was not made).
 */
export function encodeHeartbeat(hb: Heartbeat, secret: Buffer): Buffer {
  const base = { box: hb.box, from: hb.from, inc: hb.inc, seq: hb.seq, echo: hb.echo, sentAt: hb.sentAt };
  const shapes: object[] = [];
  if (hb.cp) {
    shapes.push({ ...base, cp: hb.cp });
    if (hb.cp.down) {
      const { down: _dropped, ...rest } = hb.cp;
      shapes.push({ ...base, cp: rest });
    }
  }
  shapes.push(base);
  const room = MAX_DATAGRAM_BYTES - MAGIC.length - MAC_BYTES;
  const payloads = shapes.map((s) => Buffer.from(JSON.stringify(s), 'utf8'));
  const payload = payloads.find((p) => p.length <= room) ?? payloads[payloads.length - 1]!;
  return Buffer.concat([MAGIC, mac(secret, payload), payload]);
}

export type DecodeResult = { ok: true; heartbeat: Heartbeat } | { ok: false; reason: 'malformed' | 'bad-mac' };

/** Checks framing and MAC, then parses; never throws on hostile input. */
export function decodeHeartbeat(datagram: Buffer, secret: Buffer): DecodeResult {
  if (datagram.length > MAX_DATAGRAM_BYTES || datagram.length <= MAGIC.length + MAC_BYTES) return { ok: false, reason: 'malformed' };
  if (!datagram.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, reason: 'malformed' };
  const given = datagram.subarray(MAGIC.length, MAGIC.length + MAC_BYTES);
  const payload = datagram.subarray(MAGIC.length + MAC_BYTES);
  if (!timingSafeEqual(given, mac(secret, payload))) return { ok: false, reason: 'bad-mac' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const p = parsed as Partial<Record<keyof Heartbeat, unknown>> | null;
  const counter = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (
    typeof p !== 'object' ||
    p === null ||
    typeof p.box !== 'string' ||
    typeof p.from !== 'string' ||
    !counter(p.inc) ||
    !counter(p.seq) ||
    !(p.echo === null || counter(p.echo)) ||
    typeof p.sentAt !== 'string'
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const cp = p.cp === undefined ? undefined : parseSummary(p.cp);
  return { ok: true, heartbeat: { box: p.box, from: p.from, inc: p.inc, seq: p.seq, echo: p.echo, sentAt: p.sentAt, ...(cp ? { cp } : {}) } };
}
