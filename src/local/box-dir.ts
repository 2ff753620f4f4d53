import { access, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { failure } from '../diagnostics/diagnostic.js';
import { loadSpec } from '../spec/load.js';
import { boxesDir } from './cache.js';
import { statePath } from './box-state.js';

/** The box directory a spec starts in unless `--dir` says otherwise: `<cache>/boxes/<box name>`. */
export function defaultBoxDir(boxName: string): string {
  return join(boxesDir(), boxName);
}

/**
 * Which box a command means: `--dir`, else the default directory of the spec's box, else the
 * only box with a state file under the cache (so `edgebox local status` needs no argument when
 * one box runs). Undefined when no box runs and none was named: `down` and `status` have
 * nothing to do then, the other commands say so.
 */
export async function resolveBoxDir(opts: { dir?: string; spec?: string }): Promise<string | undefined> {
  if (opts.dir) return resolve(opts.dir);
  if (opts.spec) return defaultBoxDir((await loadSpec(opts.spec)).box.metadata.name);
  const root = boxesDir();
  const names = await readdir(root).catch(() => [] as string[]);
  const withState: string[] = [];
  for (const n of names) {
    if (
      await access(statePath(join(root, n))).then(
        () => true,
        () => false,
      )
    )
      withState.push(join(root, n));
  }
  if (withState.length <= 1) return withState[0];
  throw failure('local.which-box', `several local boxes exist: ${withState.join(', ')}`, 'pass the box spec or --dir to choose one');
}

/** For commands that need a box: the box directory, or an error saying how to start one. */
export async function requireBoxDir(opts: { dir?: string; spec?: string }): Promise<string> {
  const dir = await resolveBoxDir(opts);
  if (dir === undefined) {
    throw failure(
      'local.no-box',
      `no local box is running under ${boxesDir()}`,
      'start one with `edgebox local up <spec>`, or pass --dir for a box started elsewhere',
    );
  }
  return dir;
}
