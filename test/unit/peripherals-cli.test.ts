import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { edgebox } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'edgebox-peripheral-cli-'));
const line = (module: string, token: number, at: string, until: string) =>
  JSON.stringify({ v: 1, kind: 'grant', peripheral: 'bus', module, token, at: `2026-01-01T00:00:${at}Z`, until: `2026-01-01T00:00:${until}Z` });
const file = (name: string, lines: string[]) => {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
};

describe('edgebox peripheral check', () => {
  it('exit 0 on a history where owners take turns, across files (one per agent)', () => {
    const a = file('a.jsonl', [line('a', 1, '00.000', '02.000')]);
    const b = file('b.jsonl', [line('b', 2, '02.500', '04.000')]);
    const r = edgebox('peripheral', 'check', a, b);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('bus: 2 grants, 0 releases, holders a -> b, tokens 1, 2');
  });

  it('exit 1 on overlapping grants, naming both lines', () => {
    const f = file('overlap.jsonl', [line('a', 1, '00.000', '02.000'), line('b', 2, '01.000', '03.000')]);
    const r = edgebox('peripheral', 'check', f, '-o', 'json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; violations: { kind: string; first: { line: number }; second: { line: number } }[] };
    expect(out.ok).toBe(false);
    expect(out.violations).toMatchObject([{ kind: 'overlap', first: { line: 1 }, second: { line: 2 } }]);
  });

  it('exit 1 on a token going backwards', () => {
    const f = file('regression.jsonl', [line('a', 5, '00.000', '01.000'), line('b', 4, '02.000', '03.000')]);
    const r = edgebox('peripheral', 'check', f);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('TOKEN REGRESSION bus');
  });

  it('exit 2 on a bad line, with file:line and a hint', () => {
    const f = file('bad.jsonl', [line('a', 1, '00.000', '01.000'), '{"v":1,"kind":"grant"']);
    const r = edgebox('peripheral', 'check', f);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:2`);
    expect(r.stderr).toContain('hint:');
  });

  it('exit 2 on a file that does not exist', () => {
    const r = edgebox('peripheral', 'check', join(dir, 'missing.jsonl'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing.jsonl');
  });
});

describe('edgebox peripheral history --dir', () => {
  it("merges the agents' files of one peripheral, in time order, as JSON", () => {
    const d = mkdtempSync(join(tmpdir(), 'edgebox-peripheral-history-'));
    writeFileSync(join(d, 'b.jsonl'), `${line('b', 2, '03.000', '04.000')}\n`);
    writeFileSync(
      join(d, 'a.jsonl'),
      `${line('a', 1, '00.000', '01.000')}\n${JSON.stringify({ v: 1, kind: 'grant', peripheral: 'other', module: 'a', token: 1, at: '2026-01-01T00:00:00Z', until: '2026-01-01T00:00:01Z' })}\n`,
    );
    const r = edgebox('peripheral', 'history', 'bus', '--dir', d, '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { module: string; token: number }[]).map((x) => `${x.module}:${x.token}`)).toEqual(['a:1', 'b:2']);
  });

  it('exit 2 without a source', () => {
    expect(edgebox('peripheral', 'history', 'bus').code).toBe(2);
  });
});
