import { afterEach, describe, expect, it } from 'vitest';
import { met, percentile, reportTargets, targetTable, type Target } from '../../src/bench/targets.js';

const target = (measured: number | undefined, comparison: Target['comparison'], bound = 5): Target => ({ name: 'p95', measured, bound, unit: 's', comparison });

describe('bench targets', () => {
  it.each<[string, boolean, number | undefined, Target['comparison']]>([
    ['4.9 against < 5', true, 4.9, '<'],
    ['5 against < 5', false, 5, '<'],
    ['5 against <= 5', true, 5, '<='],
    ['5.1 against <= 5', false, 5.1, '<='],
    ['5.1 against > 5', true, 5.1, '>'],
    ['5 against > 5', false, 5, '>'],
    ['5 against >= 5', true, 5, '>='],
    ['5 against = 5', true, 5, '='],
    ['4 against = 5', false, 4, '='],
    ['a figure not measured (no sample)', false, undefined, '<='],
    ['a figure that is not a number (a ratio of nothing)', false, NaN, '<='],
  ])('%s: met is %s', (_what, expected, measured, comparison) => {
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

  it('no percentile of an empty sample', () => {
    expect(percentile([], 95)).toBeUndefined();
  });

  it.each<[number[], number, number]>([
    [[3], 95, 3],
    [[5, 1, 4, 2, 3], 50, 3],
    [Array.from({ length: 20 }, (_, i) => 20 - i), 95, 19],
    [Array.from({ length: 20 }, (_, i) => i + 1), 100, 20],
  ])('nearest-rank percentile of %j at p%i is %s', (samples, p, expected) => {
    expect(percentile(samples, p)).toBe(expected);
  });
});
