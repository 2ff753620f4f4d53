import { constants, type Dirent } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, realpath, rm, rmdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, parse, relative, resolve, sep } from 'node:path';
import { EdgeboxError, failure, type Diagnostic } from '../diagnostics/diagnostic.js';
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
  `^(README\\.md|k3s\\/[a-z0-9-]+\\/(config\\.yaml|edgebox-kubelet\\.conf|kube-vip\\.yaml)|systemd\\/[a-z0-9-]+\\/(edgebox-agent\\.service|k3s\\.service\\.d\\/10-edgebox\\.conf)|${MANIFEST}|monitoring\\/edgebox-monitoring\\.yaml)$`,
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

/** Where the shell runs: the directories `--out` must not be. */
export interface OutputContext {
  cwd: string;
  home: string;
}

/**
 * Why `--out` may not be `dir` (an absolute path with symlinks resolved), if it may not: render
 * removes the rendered files a spec no longer has and writes a README.md, so `/`, the home
 * directory, the working directory or one of its parents would have a user's files overwritten
 * or removed. Render wants a directory of its own.
 */
export function outDirProblem(dir: string, ctx: OutputContext): Diagnostic | undefined {
  const refuse = (what: string) =>
    unsafeOut(`--out ${dir} is ${what}; render writes and removes files in it`, 'pass a directory of its own for the rendered files, e.g. --out ./rendered');
  if (parse(dir).root === dir) return refuse('the root of the file system');
  if (dir === ctx.home) return refuse('your home directory');
  if (dir === ctx.cwd) return refuse('the working directory');
  const up = relative(dir, ctx.cwd);
  if (!isAbsolute(up) && up !== '..' && !up.startsWith(`..${sep}`)) return refuse('a parent of the working directory');
  return undefined;
}

function unsafeOut(message: string, hint: string): Diagnostic {
  return { code: 'render.unsafe-out', severity: 'error', message, hint, path: '--out' };
}

/** `dir` as the file system resolves it (symlinks followed), or as written while it does not exist yet. */
async function resolveDir(dir: string): Promise<string> {
  return realpath(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return resolve(dir);
    throw e;
  });
}

/**
 * Rendered-path regular files under `dir` and their contents; a missing directory holds none. A
 * symlink is not a rendered file (recursive readdir does not follow one into a directory either):
 * render never reads, writes or removes through it.
 */
async function readRendered(dir: string, owns: (path: string) => boolean): Promise<Map<string, string>> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw e;
  }
  const paths = entries
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)).split(sep).join('/'))
    .filter(owns);
  return new Map(await Promise.all(paths.map(async (p) => [p, await readFile(join(dir, p), 'utf8')] as const)));
}

/** The paths (and their parent directories inside `dir`) that are symlinks, each once. */
async function symlinksOnPaths(dir: string, paths: readonly string[]): Promise<string[]> {
  const prefixes = new Set(paths.flatMap((p) => p.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
  const linked = await Promise.all(
    [...prefixes].sort().map(async (p) =>
      (
        await lstat(join(dir, p)).catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return undefined;
          throw e;
        })
      )?.isSymbolicLink()
        ? p
        : undefined,
    ),
  );
  return linked.filter((p): p is string => p !== undefined);
}

// O_NOFOLLOW: should a symlink appear at the file itself after the check, the write fails instead of following it.
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/**
 * Brings `dir` to exactly the rendered files: creates it if missing, writes what changed,
 * removes stale rendered files (and the module directories they leave empty, never `dir`
 * itself). Refuses, before writing anything, a `dir` that is root-like (outDirProblem) or a
 * rendered path, or a directory on the way to one, that is a symlink.
 */
export async function writeOutput(
  dir: string,
  files: readonly RenderedFile[],
  o: { owns?: (path: string) => boolean; ctx?: OutputContext } = {},
): Promise<FileAction[]> {
  const owns = o.owns ?? isRenderedPath;
  const ctx = o.ctx ?? { cwd: process.cwd(), home: homedir() };
  try {
    const real = await resolveDir(dir);
    const unsafe = outDirProblem(real, { cwd: await resolveDir(ctx.cwd), home: await resolveDir(ctx.home) });
    if (unsafe) throw new EdgeboxError('input', [unsafe]);
    const actions = planOutput(files, await readRendered(real, owns), owns);
    const links = await symlinksOnPaths(
      real,
      actions.filter((a) => a.action !== 'unchanged').map((a) => a.path),
    );
    if (links.length)
      throw new EdgeboxError(
        'input',
        links.map((p) =>
          unsafeOut(
            `${join(dir, p)} is a symlink; render writes nothing through one`,
            'remove the symlink, or render into a fresh directory and copy the files',
          ),
        ),
      );
    const content = new Map(files.map((f) => [f.path, f.content]));
    for (const { path, action } of actions) {
      const target = join(real, path);
      if (action === 'write') {
        await mkdir(dirname(target), { recursive: true });
        const handle = await open(target, WRITE_FLAGS, 0o644);
        await handle.writeFile(content.get(path) ?? '').finally(() => handle.close());
      } else if (action === 'remove') {
        await rm(target);
        // Only succeeds when nothing else is left there; never the output directory itself.
        if (dirname(path) !== '.') await rmdir(dirname(target)).catch(() => undefined);
        // A box's directory too (render --gitops: boxes/<box>/manifests/...).
        if (dirname(dirname(path)) !== '.') await rmdir(dirname(dirname(target))).catch(() => undefined);
      }
    }
    return actions;
  } catch (e) {
    if (e instanceof EdgeboxError) throw e;
    throw failure(
      'render.write-failed',
      `cannot write the rendered files to ${dir}: ${(e as Error).message}`,
      'pass --out a directory you can write to (it is created if missing)',
    );
  }
}
