import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: the CLI runs from here, as in the README. */
export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the built CLI as a user would (`npm test` builds first). */
export function edgebox(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/edgebox.js', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
