import { describe, expect, it } from 'vitest';
import { toYaml, unifiedDiff } from '../../src/apply/diff.js';

const lines = (n: number, change?: { at: number; to: string }) =>
  Array.from({ length: n }, (_, i) => (change && i === change.at ? change.to : `line ${i + 1}`)).join('\n') + '\n';

describe('unifiedDiff', () => {
  it.each<{ name: string; before: string; after: string; expected: string[] }>([
    { name: 'equal texts: no hunks', before: 'a\nb\n', after: 'a\nb\n', expected: [] },
    { name: 'creation: all added', before: '', after: 'a\nb\n', expected: ['@@ -0,0 +1,2 @@', '+a', '+b'] },
    { name: 'deletion: all removed', before: 'a\nb\n', after: '', expected: ['@@ -1,2 +0,0 @@', '-a', '-b'] },
    {
      name: 'one changed line in the middle, with three lines of context',
      before: lines(10),
      after: lines(10, { at: 4, to: 'five' }),
      expected: ['@@ -2,7 +2,7 @@', ' line 2', ' line 3', ' line 4', '-line 5', '+five', ' line 6', ' line 7', ' line 8'],
    },
    {
      name: 'two changes far apart: two hunks',
      before: lines(20),
      after: lines(20, { at: 1, to: 'two' }).replace('line 19', 'nineteen'),
      expected: [
        '@@ -1,5 +1,5 @@',
        ' line 1',
        '-line 2',
        '+two',
        ' line 3',
        ' line 4',
        ' line 5',
        '@@ -16,5 +16,5 @@',
        ' line 16',
        ' line 17',
        ' line 18',
        '-line 19',
        '+nineteen',
        ' line 20',
      ],
    },
    {
      name: 'an inserted line',
      before: 'a\nb\nc\n',
      after: 'a\nb\nx\nc\n',
      expected: ['@@ -1,3 +1,4 @@', ' a', ' b', '+x', ' c'],
    },
  ])('$name', ({ before, after, expected }) => {
    expect(unifiedDiff(before, after)).toEqual(expected);
  });
});

describe('toYaml', () => {
  it('sorts keys so that key order never shows as a change', () => {
    expect(toYaml({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'x' } })).toBe(
      toYaml({ metadata: { name: 'x' }, apiVersion: 'v1', kind: 'Namespace' }),
    );
  });
});
