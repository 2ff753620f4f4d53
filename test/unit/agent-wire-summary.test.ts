import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RECOVERY_PHASES, type ControlPlaneSummary } from '../../src/agent/quorum/summary.js';
import { decodeHeartbeat, encodeHeartbeat, MAX_DATAGRAM_BYTES, type Heartbeat } from '../../src/agent/heartbeat/wire.js';

const SECRET = Buffer.from('a'.repeat(64));
const hb = (over: Partial<Heartbeat> = {}): Heartbeat => ({ box: 'box', from: 'm2', inc: 3, seq: 10, echo: 7, sentAt: '2030-01-01T00:00:00.000Z', ...over });

function signedPayload(payload: string): Buffer {
  const magic = Buffer.from('EBH2');
  const body = Buffer.from(payload);
  return Buffer.concat([magic, createHmac('sha256', SECRET).update(magic).update(body).digest(), body]);
}

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/);
const summary: fc.Arbitrary<ControlPlaneSummary> = fc.record(
  {
    role: fc.constantFrom('server' as const, 'agent' as const),
    voter: fc.boolean(),
    raftIndex: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    leader: fc.boolean(),
    down: fc.dictionary(name, fc.nat({ max: 10_000_000 }), { maxKeys: 6 }),
    phase: fc.constantFrom(...RECOVERY_PHASES),
    vote: name,
  },
  { requiredKeys: ['role', 'voter', 'leader'] },
);
const heartbeat: fc.Arbitrary<Heartbeat> = fc.record(
  {
    box: name,
    from: name,
    inc: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    echo: fc.option(fc.nat({ max: Number.MAX_SAFE_INTEGER }), { nil: null }),
    sentAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    cp: summary,
  },
  { requiredKeys: ['box', 'from', 'inc', 'seq', 'echo', 'sentAt'] },
);

describe('heartbeat control-plane summary', () => {
  it('round-trips any heartbeat with or without a summary', () => {
    fc.assert(
      fc.property(heartbeat, (h) => {
        const d = encodeHeartbeat(h, SECRET);
        expect(d.length).toBeLessThanOrEqual(MAX_DATAGRAM_BYTES);
        expect(decodeHeartbeat(d, SECRET)).toEqual({ ok: true, heartbeat: h });
      }),
    );
  });

  it('rejects any datagram with a byte changed or cut off', () => {
    fc.assert(
      fc.property(heartbeat, fc.nat(), fc.integer({ min: 1, max: 255 }), (h, at, flip) => {
        const d = encodeHeartbeat(h, SECRET);
        const tampered = Buffer.from(d);
        tampered[at % d.length] = tampered[at % d.length]! ^ flip;
        expect(decodeHeartbeat(tampered, SECRET).ok).toBe(false);
        expect(decodeHeartbeat(d.subarray(0, d.length - 1 - (at % 8)), SECRET).ok).toBe(false);
      }),
    );
  });

  it('reads heartbeats that carry no summary (agents without a role driver send none)', () => {
    const old = signedPayload(JSON.stringify({ box: 'box', from: 'm2', inc: 3, seq: 10, echo: 7, sentAt: '2030-01-01T00:00:00.000Z' }));
    expect(decodeHeartbeat(old, SECRET)).toEqual({ ok: true, heartbeat: hb() });
  });

  it.each([
    ['an unknown role', { role: 'leader', voter: true, leader: true }],
    ['a negative raft index', { role: 'server', voter: true, leader: false, raftIndex: -1 }],
    ['a fractional witness statement', { role: 'agent', voter: false, leader: false, down: { m1: 1.5 } }],
    ['an unknown phase', { role: 'server', voter: true, leader: false, phase: 'panicking' }],
    ['a vote that is not a name', { role: 'server', voter: true, leader: false, vote: 3 }],
    ['not an object', [1, 2]],
  ])('keeps the heartbeat (the peer is alive) but drops a summary with %s', (_what, cp) => {
    const d = signedPayload(JSON.stringify({ ...hb(), cp }));
    expect(decodeHeartbeat(d, SECRET)).toEqual({ ok: true, heartbeat: hb() });
  });

  it('a summary too large for one datagram drops its witness statements first, then goes whole', () => {
    const long = (i: number) => `${'m'.repeat(60)}-${String(i).padStart(2, '0')}`;
    const cp: ControlPlaneSummary = {
      role: 'server',
      voter: true,
      raftIndex: Number.MAX_SAFE_INTEGER,
      leader: false,
      phase: 'refused',
      vote: long(99),
      down: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [long(i), 86_400])),
    };
    const big = hb({ box: long(98), from: long(97), inc: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER, echo: Number.MAX_SAFE_INTEGER, cp });
    const d = encodeHeartbeat(big, SECRET);
    expect(d.length).toBeLessThanOrEqual(MAX_DATAGRAM_BYTES);
    const { down: _down, ...withoutDown } = cp;
    expect(decodeHeartbeat(d, SECRET)).toEqual({ ok: true, heartbeat: { ...big, cp: withoutDown } });
    // With longest names (63) everything but the statements always fits, and ten statements too.
    const ten = { ...cp, down: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [long(i), 86_400])) };
    expect(decodeHeartbeat(encodeHeartbeat({ ...big, cp: ten }, SECRET), SECRET)).toEqual({ ok: true, heartbeat: { ...big, cp: ten } });
  });
});
