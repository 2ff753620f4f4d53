import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HeartbeatVerifier, normalizeAddress } from '../../src/agent/heartbeat/verify.js';
import { decodeHeartbeat, encodeHeartbeat, sequenceStart, type Heartbeat } from '../../src/agent/heartbeat/wire.js';

const SECRET = Buffer.from('a'.repeat(64));
const OTHER = Buffer.from('b'.repeat(64));
const ADDRESSES: Record<string, string> = { m1: '127.0.1.1', m2: '127.0.1.2', m3: '127.0.1.3' };
const hb = (over: Partial<Heartbeat> = {}): Heartbeat => ({ box: 'box', from: 'm2', seq: 10, sentAt: '2030-01-01T00:00:00.000Z', ...over });
const verifier = () => new HeartbeatVerifier({ box: 'box', self: 'm1', secret: SECRET, addressOf: (m) => ADDRESSES[m] });

/** A datagram whose MAC is right but whose payload is the given bytes. */
function signedPayload(payload: string): Buffer {
  const magic = Buffer.from('EBH1');
  const body = Buffer.from(payload);
  return Buffer.concat([magic, createHmac('sha256', SECRET).update(magic).update(body).digest(), body]);
}

describe('heartbeat wire format', () => {
  it('round-trips, and the MAC is over the magic and the payload', () => {
    const d = encodeHeartbeat(hb(), SECRET);
    expect(d.subarray(0, 4).toString()).toBe('EBH1');
    expect(JSON.parse(d.subarray(36).toString())).toEqual(hb());
    expect(decodeHeartbeat(d, SECRET)).toEqual({ ok: true, heartbeat: hb() });
    expect(d).toEqual(signedPayload(JSON.stringify(hb())));
  });

  it('a restarted sender continues above its previous run', () => {
    const previousRunLast = sequenceStart(Date.parse('2030-01-01T00:00:00Z')) + 50 * 3600; // an hour at 20 ms
    expect(sequenceStart(Date.parse('2030-01-01T01:00:01Z'))).toBeGreaterThan(previousRunLast);
    expect(Number.isSafeInteger(sequenceStart(Date.parse('2250-01-01T00:00:00Z')))).toBe(true);
  });
});

describe('HeartbeatVerifier', () => {
  it('accepts a heartbeat of a peer from its address, with a newer seq each time', () => {
    const v = verifier();
    expect(v.accept(encodeHeartbeat(hb({ seq: 10 }), SECRET), '127.0.1.2')).toEqual({ ok: true, heartbeat: hb({ seq: 10 }) });
    expect(v.accept(encodeHeartbeat(hb({ seq: 11 }), SECRET), '::ffff:127.0.1.2').ok).toBe(true);
    // Each peer has its own sequence.
    expect(v.accept(encodeHeartbeat(hb({ from: 'm3', seq: 1 }), SECRET), '127.0.1.3').ok).toBe(true);
  });

  it.each<{ reason: string; datagram: () => Buffer; source?: string }>([
    { reason: 'bad-mac', datagram: () => encodeHeartbeat(hb(), OTHER) },
    {
      reason: 'bad-mac',
      datagram: () => {
        const d = encodeHeartbeat(hb(), SECRET);
        d[d.length - 2]! ^= 1;
        return d;
      },
    },
    { reason: 'malformed', datagram: () => Buffer.from('hello') },
    { reason: 'malformed', datagram: () => Buffer.concat([Buffer.from('XXXX'), encodeHeartbeat(hb(), SECRET).subarray(4)]) },
    { reason: 'malformed', datagram: () => Buffer.alloc(4096, 1) },
    { reason: 'malformed', datagram: () => signedPayload('{not json') },
    { reason: 'malformed', datagram: () => signedPayload('{"box":"box","from":"m2","seq":"10","sentAt":"x"}') },
    { reason: 'malformed', datagram: () => signedPayload('null') },
    { reason: 'wrong-box', datagram: () => encodeHeartbeat(hb({ box: 'other-box' }), SECRET) },
    { reason: 'unknown-module', datagram: () => encodeHeartbeat(hb({ from: 'stranger' }), SECRET) },
    { reason: 'unknown-module', datagram: () => encodeHeartbeat(hb({ from: 'm1' }), SECRET), source: '127.0.1.1' },
    { reason: 'wrong-address', datagram: () => encodeHeartbeat(hb(), SECRET), source: '127.0.1.3' },
  ])('drops $reason', ({ reason, datagram, source }) => {
    expect(verifier().accept(datagram(), source ?? '127.0.1.2')).toEqual({ ok: false, reason });
  });

  it('drops a replayed or older heartbeat (replay), and keeps accepting newer ones', () => {
    const v = verifier();
    const first = encodeHeartbeat(hb({ seq: 10 }), SECRET);
    expect(v.accept(first, '127.0.1.2').ok).toBe(true);
    expect(v.accept(first, '127.0.1.2')).toEqual({ ok: false, reason: 'replay' });
    expect(v.accept(encodeHeartbeat(hb({ seq: 9 }), SECRET), '127.0.1.2')).toEqual({ ok: false, reason: 'replay' });
    expect(v.accept(encodeHeartbeat(hb({ seq: 12 }), SECRET), '127.0.1.2').ok).toBe(true);
  });

  it('a rejected datagram does not advance the replay guard', () => {
    const v = verifier();
    expect(v.accept(encodeHeartbeat(hb({ seq: 50 }), SECRET), '127.0.1.9').ok).toBe(false);
    expect(v.accept(encodeHeartbeat(hb({ seq: 20 }), SECRET), '127.0.1.2').ok).toBe(true);
  });

  it('normalizes IPv4-mapped IPv6 source addresses only', () => {
    expect(normalizeAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(normalizeAddress('FE80::1')).toBe('fe80::1');
  });
});
