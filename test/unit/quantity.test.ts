import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cpuMillis, memoryBytes, parseQuantity } from '../../src/spec/quantity.js';

describe('quantities', () => {
  it.each([
    ['500m', 0.5],
    ['1', 1],
    ['1.5', 1.5],
    ['2Gi', 2 * 2 ** 30],
    ['512Mi', 512 * 2 ** 20],
    ['1G', 1e9],
    ['1e3', 1000],
    ['100k', 1e5],
  ])('%s = %d', (text, value) => expect(parseQuantity(text)).toBe(value));

  it.each(['2GB', '', 'abc', '1..5', '-1', 'Gi'])('rejects %j', (text) => expect(parseQuantity(text)).toBeUndefined());

  it('reads cpu as millicores and memory as bytes', () => {
    expect(cpuMillis('250m')).toBe(250);
    expect(cpuMillis('2')).toBe(2000);
    expect(memoryBytes('64Mi')).toBe(64 * 2 ** 20);
    expect(cpuMillis(undefined)).toBe(0);
  });

  it('round-trips millicores', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1_000_000 }), (m) => cpuMillis(`${m}m`) === m));
  });
});
