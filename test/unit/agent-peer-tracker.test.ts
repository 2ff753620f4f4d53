import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PeerTracker } from '../../src/agent/heartbeat/peer-tracker.js';
import { peerView } from '../../src/agent/heartbeat/peer-view.js';

const I = 200;
const MISSED = 5;
const tracker = (peers = ['b', 'c']) => new PeerTracker({ peers, intervalMs: I, missedHeartbeats: MISSED, startedAt: 1000 });

type Step = ['heard', string, number] | ['tick', number];

describe('PeerTracker', () => {
  it.each<{ name: string; steps: Step[]; at: number; expected: Record<string, { reachable: boolean; suspicion: number }>; transitions: string[] }>([
    {
      name: 'a peer never heard counts from the start: still reachable just before the window ends',
      steps: [['tick', 1999]],
      at: 1999,
      expected: { b: { reachable: true, suspicion: 4.995 }, c: { reachable: true, suspicion: 4.995 } },
      transitions: [],
    },
    {
      name: 'a peer never heard turns unreachable exactly when the window ends',
      steps: [['tick', 2000]],
      at: 2000,
      expected: { b: { reachable: false, suspicion: 5 }, c: { reachable: false, suspicion: 5 } },
      transitions: ['b down', 'c down'],
    },
    {
      name: 'suspicion is intervals since the last heartbeat',
      steps: [
        ['heard', 'b', 1500],
        ['tick', 1800],
      ],
      at: 1800,
      expected: { b: { reachable: true, suspicion: 1.5 }, c: { reachable: true, suspicion: 4 } },
      transitions: [],
    },
    {
      name: 'missing missedHeartbeats in a row makes a peer unreachable',
      steps: [
        ['heard', 'b', 1500],
        ['heard', 'c', 1500],
        ['tick', 2499],
        ['tick', 2500],
      ],
      at: 2500,
      expected: { b: { reachable: false, suspicion: 5 }, c: { reachable: false, suspicion: 5 } },
      transitions: ['b down', 'c down'],
    },
    {
      name: 'one accepted heartbeat makes an unreachable peer reachable again',
      steps: [
        ['tick', 2000],
        ['heard', 'b', 3000],
        ['tick', 3000],
      ],
      at: 3000,
      expected: { b: { reachable: true, suspicion: 0 }, c: { reachable: false, suspicion: 10 } },
      transitions: ['b down', 'c down', 'b up'],
    },
    {
      name: 'a transition is reported once',
      steps: [
        ['tick', 2000],
        ['tick', 2600],
        ['heard', 'b', 2700],
        ['heard', 'b', 2800],
      ],
      at: 2800,
      expected: { b: { reachable: true, suspicion: 0 }, c: { reachable: false, suspicion: 9 } },
      transitions: ['b down', 'c down', 'b up'],
    },
    {
      name: 'a module that is not a peer is ignored',
      steps: [
        ['heard', 'zz', 1100],
        ['tick', 1100],
      ],
      at: 1100,
      expected: { b: { reachable: true, suspicion: 0.5 }, c: { reachable: true, suspicion: 0.5 } },
      transitions: [],
    },
  ])('$name', ({ steps, at, expected, transitions }) => {
    const t = tracker();
    const seen: string[] = [];
    for (const s of steps) {
      if (s[0] === 'heard') {
        const tr = t.heard(s[1], s[2]);
        if (tr) seen.push(`${tr.peer} ${tr.reachable ? 'up' : 'down'}`);
      } else {
        for (const tr of t.tick(s[1])) seen.push(`${tr.peer} ${tr.reachable ? 'up' : 'down'}`);
      }
    }
    const states = Object.fromEntries([...t.states(at)].map(([p, s]) => [p, { reachable: s.reachable, suspicion: s.suspicion }]));
    expect(states).toEqual(expected);
    expect(seen).toEqual(transitions);
  });

  it("names the next deadline: the end of the oldest reachable peer's window, none when all are down", () => {
    const t = tracker();
    expect(t.nextDeadline()).toBe(2000);
    t.heard('b', 1500);
    expect(t.nextDeadline()).toBe(2000); // c, never heard, counts from 1000
    t.heard('c', 1600);
    expect(t.nextDeadline()).toBe(2500);
    t.tick(10_000);
    expect(t.nextDeadline()).toBeNull();
  });

  // Property: heartbeats never further apart than one interval (with any jitter inside it) never
  // make a peer unreachable, however long it runs and whenever the ticks come.
  it('a peer heard at least every interval is never unreachable', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: I }), { minLength: 1, maxLength: 200 }),
        fc.array(fc.integer({ min: 0, max: I }), { minLength: 1, maxLength: 200 }),
        (gaps, tickOffsets) => {
          const t = new PeerTracker({ peers: ['b'], intervalMs: I, missedHeartbeats: 2, startedAt: 0 });
          let now = 0;
          t.heard('b', now);
          for (const [i, gap] of gaps.entries()) {
            const tickAt = now + Math.min(gap, tickOffsets[i % tickOffsets.length]!);
            expect(t.tick(tickAt)).toEqual([]);
            now += gap;
            expect(t.heard('b', now)).toBeNull();
          }
          expect(t.states(now + I).get('b')!.reachable).toBe(true);
        },
      ),
    );
  });

  // Property: a peer that goes silent turns unreachable exactly missedHeartbeats intervals after
  // its last heartbeat: not a millisecond earlier, and at that tick.
  it('a silent peer becomes unreachable after exactly missedHeartbeats intervals', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 10_000 }),
        fc.integer({ min: 2, max: 100 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.array(fc.double({ min: 0, max: 0.999_999, noNaN: true }), { maxLength: 20 }),
        (interval, missed, lastHeard, fractions) => {
          const t = new PeerTracker({ peers: ['b'], intervalMs: interval, missedHeartbeats: missed, startedAt: 0 });
          t.heard('b', lastHeard);
          const window = interval * missed;
          for (const f of [...fractions].sort()) expect(t.tick(lastHeard + Math.floor(f * window))).toEqual([]);
          expect(t.tick(lastHeard + window - 1)).toEqual([]);
          expect(t.tick(lastHeard + window)).toEqual([{ peer: 'b', reachable: false, at: lastHeard + window }]);
          expect(t.states(lastHeard + window).get('b')!.suspicion).toBe(missed);
        },
      ),
    );
  });
});

describe('peerView', () => {
  it('puts lastSeen on the wall clock by its age, RFC 3339 with ms; null before the first heartbeat', () => {
    const t = tracker();
    t.heard('b', 1100);
    t.tick(1350);
    const wallNow = Date.parse('2030-01-02T03:04:05.678Z');
    expect(peerView(t.states(1350), 1350, wallNow)).toEqual({
      b: { reachable: true, lastSeen: '2030-01-02T03:04:05.428Z', suspicion: 1.25 },
      c: { reachable: true, lastSeen: null, suspicion: 1.75 },
    });
  });

  it('rounds suspicion to two decimals', () => {
    const t = tracker(['b']);
    expect(peerView(t.states(1000 + 200 / 3), 1000, 0).b!.suspicion).toBe(0.33);
  });
});
