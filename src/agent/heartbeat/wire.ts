import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * One heartbeat datagram:
 *
 *   "EBH1" (4 bytes) | HMAC-SHA256(secret, "EBH1" | payload) (32 bytes) | payload (UTF-8 JSON)
 *
 * payload = {"box": string, "from": string, "seq": number, "sentAt": RFC3339}. The MAC covers the
 * payload bytes exactly as sent, so there is no canonical JSON form to agree on, and it is
 * checked before the payload is parsed: nothing unauthenticated is ever interpreted.
 */
export interface Heartbeat {
  box: string;
  from: string;
  /** Strictly increasing per sender, also across its restarts (see `sequenceStart`). */
  seq: number;
  /** The sender's wall clock; informative only (clocks of modules may differ). */
  sentAt: string;
}

const MAGIC = Buffer.from('EBH1', 'ascii');
const MAC_BYTES = 32;
/** Far above a real heartbeat (about 120 bytes); anything larger is dropped unread. */
export const MAX_DATAGRAM_BYTES = 512;

function mac(secret: Buffer, payload: Buffer): Buffer {
  return createHmac('sha256', secret).update(MAGIC).update(payload).digest();
}

export function encodeHeartbeat(hb: Heartbeat, secret: Buffer): Buffer {
  const payload = Buffer.from(JSON.stringify({ box: hb.box, from: hb.from, seq: hb.seq, sentAt: hb.sentAt }), 'utf8');
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
  if (typeof p !== 'object' || p === null || typeof p.box !== 'string' || typeof p.from !== 'string'
    || typeof p.seq !== 'number' || !Number.isSafeInteger(p.seq) || typeof p.sentAt !== 'string') {
    return { ok: false, reason: 'malformed' };
  }
  return { ok: true, heartbeat: { box: p.box, from: p.from, seq: p.seq, sentAt: p.sentAt } };
}

/**
 * The first sequence number of a sender started at wall time `startedAtMs`: the start time in
 * µs, then +1 per heartbeat round. A restarted agent thus continues above its previous run
 * (at most 50 rounds per second, against 1,000,000 µs per second), so its peers' replay guard
 * does not lock it out; it stays a safe integer until the year 2255.
 */
export function sequenceStart(startedAtMs: number): number {
  return Math.floor(startedAtMs) * 1000;
}
