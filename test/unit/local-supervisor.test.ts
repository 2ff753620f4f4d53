import { describe, expect, it } from 'vitest';
import { restartDelayMs } from '../../src/local/supervisor.js';

describe('supervisor restart delay', () => {
  it.each([
    [0, 1000],
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [5, 16_000],
    [50, 16_000],
  ])('after %i recent restarts waits %i ms', (recent, ms) => {
    expect(restartDelayMs(recent)).toBe(ms);
  });
});
