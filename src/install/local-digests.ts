import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';

/**
 * What install learns about a local input file (a K3s binary, an image archive): its sha256 and,
 * for a K3s binary, its `--version`. Kept in `<cache>/install-inputs.json` under the file's
 * identity (device, inode, size, modification and change times, as git's index does): a re-run of
 * `edgebox install` on an installed box, within its 10 s, would otherwise hash a K3s binary of up
 * to 200 MB and start it again (4 s of a loaded 2-core machine here). A file written, replaced or
 * touched since gets a new change time, so it is read again.
 */
interface Entry {
  id: string;
  sha256: string;
  version?: string;
}

type Store = Record<string, Entry>;

const storePath = (cache: string) => join(cache, 'install-inputs.json');

async function identity(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  return [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(':');
}

export class LocalDigests {
  private constructor(
    private readonly cache: string,
    private readonly store: Store,
    private dirty = false,
  ) {}

  static async open(cache: string): Promise<LocalDigests> {
    let store: Store = {};
    try {
      store = JSON.parse(await readFile(storePath(cache), 'utf8')) as Store;
    } catch {
      // None yet, or unreadable: everything is read again.
    }
    return new LocalDigests(cache, store);
  }

  /** The file's sha256, and `version(path)` when asked, each computed only if the file changed. */
  async of(path: string, version?: () => Promise<string>): Promise<{ sha256: string; version?: string }> {
    const key = resolve(path);
    const id = await identity(key);
    const known = this.store[key]?.id === id ? this.store[key] : undefined;
    const sha256 = known?.sha256 ?? (await fileSha256(key));
    const v = version ? (known?.version ?? (await version())) : undefined;
    const entry: Entry = { id, sha256, ...(v !== undefined ? { version: v } : known?.version !== undefined ? { version: known.version } : {}) };
    if (JSON.stringify(entry) !== JSON.stringify(this.store[key])) {
      this.store[key] = entry;
      this.dirty = true;
    }
    return { sha256, ...(v !== undefined ? { version: v } : {}) };
  }

  /** A digest computed on the way in (a download hashed as it was written): the file is not read again. */
  async know(path: string, sha256: string): Promise<void> {
    const key = resolve(path);
    this.store[key] = { id: await identity(key), sha256 };
    this.dirty = true;
  }

  /** Written atomically; a failure to write only costs the next run its time. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const path = storePath(this.cache);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(`${path}.tmp`, `${JSON.stringify(this.store, null, 2)}\n`);
      await rename(`${path}.tmp`, path);
      this.dirty = false;
    } catch {
      // Read again next time.
    }
  }
}

/** A file's sha256, streamed. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}
