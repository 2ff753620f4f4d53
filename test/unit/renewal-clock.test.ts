import { describe, expect, it } from 'vitest';
import { RenewalClock } from '../../src/kube/observed-time.js';

describe('RenewalClock', () => {
  const clock = () => {
    let now = 1000;
    return { c: new RenewalClock(() => now), tick: (ms: number) => (now += ms) };
  };

  it('a renewal first seen in a (re-)list is aged from then but is no live renewal; the next one seen as a watch event is', () => {
    const { c, tick } = clock();
    expect(c.observe('ns/agent-m2', 'r1', true)).toBe(1000);
    // The ListWatch then emits the listed item as an add: same renewal, still listed.
    tick(5);
    expect(c.observe('ns/agent-m2', 'r1', false)).toBe(1000);
    expect(c.live('ns/agent-m2')).toBe(false);
    tick(500);
    expect(c.observe('ns/agent-m2', 'r2', false)).toBe(1505);
    expect(c.live('ns/agent-m2')).toBe(true);
  });

  it('a re-list of an unchanged Lease keeps what was known of it: a renewal seen live stays live', () => {
    const { c, tick } = clock();
    c.observe('ns/agent-m3', 'r7', false);
    tick(10_000);
    expect(c.observe('ns/agent-m3', 'r7', true)).toBe(1000);
    expect(c.live('ns/agent-m3')).toBe(true);
  });

  it('a Lease never seen is not live', () => {
    expect(clock().c.live('ns/agent-x')).toBe(false);
  });
});
