import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBE_SCRIPT } from '../../src/install/facts.js';

const hex = (t: string) => createHash('sha256').update(t).digest('hex');

/** The probe as install runs it (`sh -s -- <paths>`), with a `sha256sum` that counts its calls. */
async function prober() {
  const dir = await mkdtemp(join(tmpdir(), 'edgebox-probe-'));
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await mkdir(join(dir, 'state'));
  const calls = join(dir, 'calls');
  await writeFile(join(bin, 'sha256sum'), `#!/bin/sh\necho "$1" >> '${calls}'\nexec /usr/bin/sha256sum "$@"\n`);
  await chmod(join(bin, 'sha256sum'), 0o755);
  const run = (paths: string[]) => {
    const out = execFileSync('sh', ['-s', '--', ...paths], {
      input: PROBE_SCRIPT,
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin`, EDGEBOX_PROBE_RECORD: join(dir, 'state', 'probe-record') },
    });
    return out.split('\n').filter((l) => l.startsWith('file='));
  };
  const hashed = async () => (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { dir, run, hashed };
}

describe('the probe', () => {
  it('hashes a file once; a re-run takes its digest from the record, and hashes again a file replaced since', async () => {
    const p = await prober();
    const a = join(p.dir, 'a');
    const b = join(p.dir, 'b');
    await writeFile(a, 'one');
    await writeFile(b, 'two');
    expect(p.run([a, b, join(p.dir, 'missing')])).toEqual([`file=${hex('one')} ${a}`, `file=${hex('two')} ${b}`]);
    expect(await p.hashed()).toEqual([a, b]);
    expect(p.run([a, b])).toEqual([`file=${hex('one')} ${a}`, `file=${hex('two')} ${b}`]);
    expect(await p.hashed()).toHaveLength(2);
    // As install writes: a temporary file renamed over it.
    await writeFile(`${b}.tmp`, 'TWO');
    await rename(`${b}.tmp`, b);
    expect(p.run([a, b])).toEqual([`file=${hex('one')} ${a}`, `file=${hex('TWO')} ${b}`]);
    expect(await p.hashed()).toEqual([a, b, b]);
  });

  it('keeps no record where its directory does not exist (preflight writes nothing on a new module)', async () => {
    const p = await prober();
    const a = join(p.dir, 'a');
    await writeFile(a, 'one');
    const out = execFileSync('sh', ['-s', '--', a], {
      input: PROBE_SCRIPT,
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', EDGEBOX_PROBE_RECORD: join(p.dir, 'no-such-dir', 'probe-record') },
    });
    expect(out).toContain(`file=${hex('one')} ${a}`);
    expect(execFileSync('ls', [p.dir], { encoding: 'utf8' }).split('\n')).not.toContain('no-such-dir');
  });
});
