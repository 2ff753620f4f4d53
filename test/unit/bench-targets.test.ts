import { afterEach, describe, expect, it } from 'vitest';
import { met, percentile, reportTargets, targetTable, type Target } from '../../src/bench/targets.js';

const target = (measured: number | undefined, comparison: Target['comparison'], bound = 5): Target => ({ name: 'p95', measured, bound, unit: 's', comparison });

describe('bench targets', () => {
  it.each<[string, number | undefined, Target['comparison'], boolean]>([
    ['below a strict bound', 4.9, '<', true],
    ['on a strict bound', 5, '<', false],
    ['on an inclusive bound', 5, '<=', true],
    ['above an inclusive bound', 5.1, '<=', false],
    ['above a lower bound', 5.1, '>', true],
    ['on a strict lower bound', 5, '>', false],
    ['on an inclusive lower bound', 5, '>=', true],
    ['equal to an exact bound', 5, '=', true],
    ['off an exact bound', 4, '=', false],
    ['not measured (no sample)', undefined, '<=', false],
    ['not a number (a ratio of nothing)', NaN, '<=', false],
  ])('a figure %s: met is %s', (_what, measured, comparison, expected) => {
    expect(met(target(measured, comparison))).toBe(expected);
  });

  it('prints each target with pass or MISS and counts the misses', () => {
    const text = targetTable([
      { name: 'planBox wall time', measured: 1234.5, bound: 2000, unit: 'ms', comparison: '<' },
      { name: 'false fencings', measured: 2, bound: 0, unit: '', comparison: '=' },
      { name: 'StatefulSet p95', measured: undefined, bound: 10, unit: 's', comparison: '<=' },
    ]);
    expect(text.split('\n')).toEqual([
      'TARGET             MEASURED      BOUND      RESULT',
      'planBox wall time  1234.50 ms    < 2000 ms  pass',
      'false fencings     2             = 0        MISS',
      'StatefulSet p95    not measured  <= 10 s    MISS',
      '2 of 3 targets MISSED',
      '',
    ]);
  });

  describe('exit code', () => {
    const before = process.exitCode;
    afterEach(() => {
      process.exitCode = before;
    });

    it('a missed target sets exit code 1', () => {
      let printed = '';
      expect(reportTargets([target(6, '<=')], (t) => (printed += t))).toBe(false);
      expect(process.exitCode).toBe(1);
      expect(printed).toContain('MISS');
    });

    it('all targets met leave the exit code alone', () => {
      process.exitCode = undefined;
      expect(reportTargets([target(4, '<='), target(0, '=', 0)], () => undefined)).toBe(true);
      expect(process.exitCode).toBeUndefined();
    });
  });

  it.each<[number[], number, number | undefined]>([
    [[], 95, undefined],
    [[3], 95, 3],
    [[5, 1, 4, 2, 3], 50, 3],
    [Array.from({ length: 20 }, (_, i) => 20 - i), 95, 19],
    [Array.from({ length: 20 }, (_, i) => i + 1), 100, 20],
  ])('nearest-rank percentile of %j at p%i is %s', (samples, p, expected) => {
    expect(percentile(samples, p)).toBe(expected);
  });
});
