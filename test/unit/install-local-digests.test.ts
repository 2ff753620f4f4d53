import { createHash } from 'node:crypto';
import { mkdtemp, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalDigests } from '../../src/install/local-digests.js';

const hex = (t: string) => createHash('sha256').update(t).digest('hex');

describe("install's record of its local inputs", () => {
  it('reads a file and asks its version once, then takes both from the record, in a later run too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgebox-digests-'));
    const file = join(dir, 'k3s');
    await writeFile(file, 'binary one');
    let asked = 0;
    const version = () => Promise.resolve(`v${++asked}`);
    const first = await LocalDigests.open(dir);
    expect(await first.of(file, version)).toEqual({ sha256: hex('binary one'), version: 'v1' });
    await first.save();
    const later = await LocalDigests.open(dir);
    expect(await later.of(file, version)).toEqual({ sha256: hex('binary one'), version: 'v1' });
    expect(asked).toBe(1);
  });

  it('reads again a file written since, even one of the same size and modification time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgebox-digests-'));
    const file = join(dir, 'k3s');
    await writeFile(file, 'binary one');
    const d = await LocalDigests.open(dir);
    await d.of(file);
    await d.save();
    await writeFile(file, 'binary two');
    // The old modification time put back: the change time still moves.
    await utimes(file, new Date(0), new Date(0));
    expect((await (await LocalDigests.open(dir)).of(file)).sha256).toBe(hex('binary two'));
  });

  it('takes a digest computed on the way in without reading the file, until the file changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgebox-digests-'));
    const file = join(dir, 'k3s');
    await writeFile(file, 'downloaded');
    const d = await LocalDigests.open(dir);
    // A digest the file does not have: only a record that is not read again gives it back.
    await d.know(file, hex('as hashed while downloading'));
    expect((await d.of(file)).sha256).toBe(hex('as hashed while downloading'));
    await writeFile(file, 'replaced');
    expect((await d.of(file)).sha256).toBe(hex('replaced'));
  });

  it('starts from nothing when its record is unreadable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgebox-digests-'));
    await writeFile(join(dir, 'install-inputs.json'), '{ not json');
    await writeFile(join(dir, 'f'), 'x');
    expect((await (await LocalDigests.open(dir)).of(join(dir, 'f'))).sha256).toBe(hex('x'));
  });
});
