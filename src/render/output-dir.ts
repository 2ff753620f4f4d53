import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { failure } from '../diagnostics/diagnostic.js';
import type { RenderedFile } from './render-box.js';

export type FileAction = { path: string; action: 'write' | 'unchanged' | 'remove' };

/**
 * The paths render writes, and so the only ones it may remove when the spec no longer renders
 * them (a dropped workload's manifest must go, or `kubectl apply -f manifests/` would bring it
 * back). Anything else a user keeps in the directory is left alone.
 */
const RENDERED_PATH =
  /^(README\.md|k3s\/[a-z0-9-]+\/(config\.yaml|edgebox-kubelet\.conf)|systemd\/[a-z0-9-]+\/edgebox-agent\.service|manifests\/(00-namespace|10-priority-classes|20-workload-[a-z0-9-]+|30-edgebox-controller|31-edgebox-agent)\.yaml|monitoring\/edgebox-monitoring\.yaml)$/;

export function isRenderedPath(path: string): boolean {
  return RENDERED_PATH.test(path);
}

/**
 * What to do with each file, given what the output directory holds now (rendered paths only):
 * write what is new or different, leave identical files untouched, remove stale ones.
 */
export function planOutput(files: readonly RenderedFile[], existing: ReadonlyMap<string, string>): FileAction[] {
  const wanted = new Set(files.map((f) => f.path));
  const actions: FileAction[] = files.map((f) => ({ path: f.path, action: existing.get(f.path) === f.content ? 'unchanged' : 'write' }));
  const stale = [...existing.keys()].filter((p) => !wanted.has(p) && isRenderedPath(p)).sort();
  return [...actions, ...stale.map((path) => ({ path, action: 'remove' as const }))];
}

/** Rendered-path files under `dir` and their contents; a missing directory holds none. */
async function readRendered(dir: string): Promise<Map<string, string>> {
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw e;
  }
  const paths = entries.map((p) => p.split('\\').join('/')).filter(isRenderedPath);
  return new Map(await Promise.all(paths.map(async (p) => [p, await readFile(join(dir, p), 'utf8')] as const)));
}

/**
 * Brings `dir` to exactly the rendered files: creates it if missing, writes what changed,
 * removes stale rendered files (and the module directories they leave empty).
 */
export async function writeOutput(dir: string, files: readonly RenderedFile[]): Promise<FileAction[]> {
  try {
    const actions = planOutput(files, await readRendered(dir));
    const content = new Map(files.map((f) => [f.path, f.content]));
    for (const { path, action } of actions) {
      const target = join(dir, path);
      if (action === 'write') {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, content.get(path) ?? '');
      } else if (action === 'remove') {
        await rm(target);
        await rmdir(dirname(target)).catch(() => undefined); // only succeeds when nothing else is left there
      }
    }
    return actions;
  } catch (e) {
    throw failure(
      'render.write-failed',
      `cannot write the rendered files to ${dir}: ${(e as Error).message}`,
      'pass --out a directory you can write to (it is created if missing)',
    );
  }
}
