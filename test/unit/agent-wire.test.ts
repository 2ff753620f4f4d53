import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HeartbeatVerifier } from '../../src/agent/heartbeat/verify.js';
import { decodeHeartbeat, encodeHeartbeat, type Heartbeat } from '../../src/agent/heartbeat/wire.js';

const SECRET = Buffer.from('a'.repeat(64));
const OTHER = Buffer.from('b'.repeat(64));
const ADDRESSES: Record<string, string> = { m1: '127.0.1.1', m2: '127.0.1.2', m3: '127.0.1.3' };
/** This agent (m1) is in its incarnation 7; m2 in its 3rd, and it has heard m1's. */
const MINE = 7;
const hb = (over: Partial<Heartbeat> = {}): Heartbeat => ({ box: 'box', from: 'm2', inc: 3, seq: 10, echo: MINE, sentAt: '2030-01-01T00:00:00.000Z', ...over });
const verifier = () =>
  new HeartbeatVerifier({ box: 'box', self: 'm1', incarnation: MINE, secret: SECRET, addressOf: (m) => ADDRESSES[m], adoptLowerAfterMs: 2000 });

/** A datagram whose MAC is right but whose payload is the given bytes. */
function signedPayload(payload: string): Buffer {
  const magic = Buffer.from('EBH2');
  const body = Buffer.from(payload);
  return Buffer.concat([magic, createHmac('sha256', SECRET).update(magic).update(body).digest(), body]);
}

describe('heartbeat wire format', () => {
  it('round-trips, and the MAC is over the magic and the payload', () => {
    const d = encodeHeartbeat(hb(), SECRET);
    expect(d.subarray(0, 4).toString()).toBe('EBH2');
    expect(JSON.parse(d.subarray(36).toString())).toEqual(hb());
    expect(decodeHeartbeat(d, SECRET)).toEqual({ ok: true, heartbeat: hb() });
    expect(d).toEqual(signedPayload(JSON.stringify(hb())));
  });
});

describe('HeartbeatVerifier', () => {
  it('accepts a heartbeat of a peer from its address, with a newer seq each time', () => {
    const v = verifier();
    expect(v.accept(encodeHeartbeat(hb({ seq: 10 }), SECRET), '127.0.1.2', 0)).toEqual({ ok: true, heartbeat: hb({ seq: 10 }) });
    expect(v.accept(encodeHeartbeat(hb({ seq: 11 }), SECRET), '::ffff:127.0.1.2', 0).ok).toBe(true);
    // Each peer has its own sequence.
    expect(v.accept(encodeHeartbeat(hb({ from: 'm3', seq: 1 }), SECRET), '127.0.1.3', 0).ok).toBe(true);
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
    { reason: 'malformed', datagram: () => signedPayload('{"box":"box","from":"m2","inc":3,"seq":"10","echo":7,"sentAt":"x"}') },
    { reason: 'malformed', datagram: () => signedPayload('{"box":"box","from":"m2","inc":-1,"seq":10,"echo":7,"sentAt":"x"}') },
    { reason: 'malformed', datagram: () => signedPayload('{"box":"box","from":"m2","inc":3,"seq":10,"sentAt":"x"}') },
    { reason: 'stale-echo', datagram: () => encodeHeartbeat(hb({ echo: MINE - 1 }), SECRET) },
    { reason: 'stale-echo', datagram: () => encodeHeartbeat(hb({ echo: null }), SECRET) },
    { reason: 'malformed', datagram: () => signedPayload('null') },
    { reason: 'wrong-box', datagram: () => encodeHeartbeat(hb({ box: 'other-box' }), SECRET) },
    { reason: 'unknown-module', datagram: () => encodeHeartbeat(hb({ from: 'stranger' }), SECRET) },
    { reason: 'unknown-module', datagram: () => encodeHeartbeat(hb({ from: 'm1' }), SECRET), source: '127.0.1.1' },
    { reason: 'wrong-address', datagram: () => encodeHeartbeat(hb(), SECRET), source: '127.0.1.3' },
  ])('drops $reason', ({ reason, datagram, source }) => {
    expect(verifier().accept(datagram(), source ?? '127.0.1.2', 0)).toEqual({ ok: false, reason });
  });

  it('drops a replayed or older heartbeat (replay), and keeps accepting newer ones', () => {
    const v = verifier();
    const first = encodeHeartbeat(hb({ seq: 10 }), SECRET);
    expect(v.accept(first, '127.0.1.2', 0).ok).toBe(true);
    expect(v.accept(first, '127.0.1.2', 0)).toEqual({ ok: false, reason: 'replay' });
    expect(v.accept(encodeHeartbeat(hb({ seq: 9 }), SECRET), '127.0.1.2', 0)).toEqual({ ok: false, reason: 'replay' });
    expect(v.accept(encodeHeartbeat(hb({ seq: 12 }), SECRET), '127.0.1.2', 0).ok).toBe(true);
  });

  it('a rejected datagram does not advance the replay guard', () => {
    const v = verifier();
    expect(v.accept(encodeHeartbeat(hb({ seq: 50 }), SECRET), '127.0.1.9', 0).ok).toBe(false);
    expect(v.accept(encodeHeartbeat(hb({ seq: 20 }), SECRET), '127.0.1.2', 0).ok).toBe(true);
  });

  it('a restarted peer (a higher incarnation) is heard at once, its seq counting from 1 again', () => {
    const v = verifier();
    expect(v.accept(encodeHeartbeat(hb({ inc: 3, seq: 500 }), SECRET), '127.0.1.2', 0).ok).toBe(true);
    expect(v.accept(encodeHeartbeat(hb({ inc: 4, seq: 1 }), SECRET), '127.0.1.2', 100).ok).toBe(true);
    expect(v.echoFor('m2')).toBe(4);
    // Its old incarnation replayed: never heard again, and the echo stays.
    expect(v.accept(encodeHeartbeat(hb({ inc: 3, seq: 501 }), SECRET), '127.0.1.2', 200)).toEqual({ ok: false, reason: 'replay' });
    expect(v.echoFor('m2')).toBe(4);
  });

  it('a peer whose clock stepped back across a restart is not locked out: no clock enters the sequence', () => {
    // The old scheme started seq from the wall clock: a restart after a clock step back started below the old seq.
    const v = verifier();
    expect(v.accept(encodeHeartbeat(hb({ inc: 3, seq: 9_000_000, sentAt: '2030-01-01T00:00:00.000Z' }), SECRET), '127.0.1.2', 0).ok).toBe(true);
    expect(v.accept(encodeHeartbeat(hb({ inc: 4, seq: 1, sentAt: '2001-01-01T00:00:00.000Z' }), SECRET), '127.0.1.2', 50).ok).toBe(true);
  });

  it('a peer that could not persist its counter restarts lower: taken once its old incarnation is silent, not before', () => {
    const v = verifier();
    expect(v.accept(encodeHeartbeat(hb({ inc: 1_700_000_000_000, seq: 5 }), SECRET), '127.0.1.2', 0).ok).toBe(true);
    expect(v.accept(encodeHeartbeat(hb({ inc: 8, seq: 1, echo: MINE }), SECRET), '127.0.1.2', 1999)).toEqual({ ok: false, reason: 'replay' });
    expect(v.accept(encodeHeartbeat(hb({ inc: 8, seq: 2, echo: MINE }), SECRET), '127.0.1.2', 2000).ok).toBe(true);
    expect(v.echoFor('m2')).toBe(8);
  });

  it('recorded heartbeats replayed after this agent restarted are refused: they echo its previous incarnation', () => {
    const recorded = [11, 12, 13].map((seq) => encodeHeartbeat(hb({ seq, echo: MINE - 1 }), SECRET));
    const restarted = verifier();
    for (const d of recorded) expect(restarted.accept(d, '127.0.1.2', 0)).toEqual({ ok: false, reason: 'stale-echo' });
    // They still tell it the peer's incarnation, which it echoes, so the live peer is heard next.
    expect(restarted.echoFor('m2')).toBe(3);
    expect(restarted.accept(encodeHeartbeat(hb({ seq: 14 }), SECRET), '127.0.1.2', 10).ok).toBe(true);
  });

  it('takes an IPv4 sender seen on a dual-stack socket (::ffff:a.b.c.d) as its module', () => {
    expect(verifier().accept(encodeHeartbeat(hb(), SECRET), '::ffff:127.0.1.2', 0).ok).toBe(true);
    expect(verifier().accept(encodeHeartbeat(hb(), SECRET), '::ffff:127.0.1.3', 0)).toEqual({ ok: false, reason: 'wrong-address' });
  });
});
