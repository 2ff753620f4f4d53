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
const MANIFEST =
  'manifests\\/(00-namespace|10-priority-classes|11-runtime-classes|20-workload-[a-z0-9-]+|30-edgebox-controller|31-edgebox-agent|32-kube-vip)\\.yaml';
const RENDERED_PATH = new RegExp(
  `^(README\\.md|k3s\\/[a-z0-9-]+\\/(config\\.yaml|edgebox-kubelet\\.conf|kube-vip\\.yaml)|systemd\\/[a-z0-9-]+\\/edgebox-agent\\.service|${MANIFEST})$`,
);
/** What `render --gitops` writes: each box's manifests and fleet.yaml, or its ApplicationSet. */
const GITOPS_PATH = new RegExp(`^(boxes\\/[a-z0-9-]+\\/(fleet\\.yaml|${MANIFEST})|applicationsets\\/[a-z0-9-]+\\.yaml)$`);

export function isRenderedPath(path: string): boolean {
  return RENDERED_PATH.test(path);
}

export function isGitopsPath(path: string): boolean {
  return GITOPS_PATH.test(path);
}

/**
 * What to do with each file, given what the output directory holds now (rendered paths only):
 * write what is new or different, leave identical files untouched, remove stale ones.
 */
export function planOutput(
  files: readonly RenderedFile[],
  existing: ReadonlyMap<string, string>,
  owns: (path: string) => boolean = isRenderedPath,
): FileAction[] {
  const wanted = new Set(files.map((f) => f.path));
  const actions: FileAction[] = files.map((f) => ({ path: f.path, action: existing.get(f.path) === f.content ? 'unchanged' : 'write' }));
  const stale = [...existing.keys()].filter((p) => !wanted.has(p) && owns(p)).sort();
  return [...actions, ...stale.map((path) => ({ path, action: 'remove' as const }))];
}

/** Rendered-path files under `dir` and their contents; a missing directory holds none. */
async function readRendered(dir: string, owns: (path: string) => boolean): Promise<Map<string, string>> {
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw e;
  }
  const paths = entries.map((p) => p.split('\\').join('/')).filter(owns);
  return new Map(await Promise.all(paths.map(async (p) => [p, await readFile(join(dir, p), 'utf8')] as const)));
}

/**
 * Brings `dir` to exactly the rendered files: creates it if missing, writes what changed,
 * removes stale rendered files (and the module directories they leave empty).
 */
export async function writeOutput(dir: string, files: readonly RenderedFile[], owns: (path: string) => boolean = isRenderedPath): Promise<FileAction[]> {
  try {
    const actions = planOutput(files, await readRendered(dir, owns), owns);
    const content = new Map(files.map((f) => [f.path, f.content]));
    for (const { path, action } of actions) {
      const target = join(dir, path);
      if (action === 'write') {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, content.get(path) ?? '');
      } else if (action === 'remove') {
        await rm(target);
        await rmdir(dirname(target)).catch(() => undefined); // only succeeds when nothing else is left there
        if (dirname(path).includes('/')) await rmdir(dirname(dirname(target))).catch(() => undefined); // a box's directory too
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
