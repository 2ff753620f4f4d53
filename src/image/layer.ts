import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import type { BuiltLayer, ImageEntry, PackageEntry } from './plan.js';

const EPOCH = new Date(0);

export const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * A tar of entries already in layer order (plan.ts layerEntries), with nothing of the host in
 * it: root-owned, dated 1970-01-01, no user or group names. Returns the tar itself.
 */
export async function tarOf(entries: readonly ImageEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((ok, fail) => {
    p.on('end', ok);
    p.on('error', fail);
  });
  const common = { uid: 0, gid: 0, uname: '', gname: '', mtime: EPOCH };
  for (const e of entries) {
    const name = e.path.slice(1);
    await new Promise<void>((ok, fail) => {
      const cb = (err?: Error | null): void => (err ? fail(err) : ok());
      if (e.type === 'file') p.entry({ ...common, name, mode: e.mode, type: 'file', size: e.content.length }, e.content, cb);
      else if (e.type === 'directory') p.entry({ ...common, name, mode: e.mode, type: 'directory' }, cb);
      else p.entry({ ...common, name, mode: 0o777, type: 'symlink', linkname: e.target }, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A layer blob: the gzipped tar, its digest and the digest of the tar (diff_id). */
export function layerOf(tar: Buffer): BuiltLayer & { blob: Buffer } {
  // Node's bundled zlib with a fixed level: the gzip header carries no name and mtime 0.
  const blob = gzipSync(tar, { level: 6 });
  return { blob, digest: sha256(blob), diffId: sha256(tar), size: blob.length };
}

/** Reads a tar (a Debian package's data, a layer) into entries. */
export async function readTar(tar: Buffer): Promise<PackageEntry[]> {
  const ex = extract();
  const out: PackageEntry[] = [];
  const done = new Promise<void>((ok, fail) => {
    ex.on('finish', ok);
    ex.on('error', fail);
  });
  ex.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c) => chunks.push(c as Buffer));
    stream.on('end', () => {
      const type = header.type === 'file' || header.type === 'directory' || header.type === 'symlink' ? header.type : 'other';
      out.push({
        path: header.name,
        type,
        mode: header.mode ?? 0o644,
        ...(header.linkname ? { target: header.linkname } : {}),
        ...(type === 'file' ? { content: Buffer.concat(chunks) } : {}),
      });
      next();
    });
  });
  Readable.from([tar]).pipe(ex);
  await done;
  return out;
}
