import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` puts the web app: dist/web beside dist/dashboard. */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../web', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

export interface StaticFile {
  body: Buffer;
  type: string;
  /** Vite names assets by content hash, so they never change; index.html always may. */
  cache: string;
}

/**
 * The file of the web app a URL path names, or undefined. `/` is index.html. A path that
 * would leave the root (`..`, encoded or not) is never read.
 */
export async function readStatic(root: string, urlPath: string): Promise<StaticFile | undefined> {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath.split('?')[0]!);
  } catch {
    return undefined;
  }
  if (rel === '/' || rel === '') rel = '/index.html';
  const file = normalize(join(root, rel));
  if (!file.startsWith(root.endsWith(sep) ? root : root + sep) || rel.includes('\0')) return undefined;
  const type = TYPES[extname(file)];
  if (!type) return undefined;
  const body = await readFile(file).catch(() => undefined);
  if (!body) return undefined;
  return { body, type, cache: rel.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache' };
}
