import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failure } from '../diagnostics/diagnostic.js';
import { agentArtifactName } from './agent-runtime.js';
import type { LocalDigests } from './local-digests.js';

/**
 * The agent's artefacts as a release ships them: `dist/agent-artifacts/` of the npm package,
 * written by `npm run artifacts` (and by `npm pack`, before it packs), each with its `.sha256`.
 * An edgebox installed from the package has no development dependencies, so it cannot bundle
 * an artefact itself (agent-artifact.ts needs rolldown): it installs the shipped one. A checkout
 * builds its own, shipped ones or not: its code may have changed since.
 */
export const SHIPPED_ARTIFACTS_DIR = join('dist', 'agent-artifacts');

export interface Shipped {
  path: string;
  sha256: string;
}

/**
 * The shipped artefact for `arch`, checked against its sum (hashed only when the file changed,
 * through install's record), or undefined when the package ships none. A file that does not match
 * its sum is refused: an artefact cut short or altered is never copied onto a module.
 */
export async function shippedArtifact(root: string, version: string, arch: 'amd64' | 'arm64', digests: LocalDigests): Promise<Shipped | undefined> {
  const path = join(root, SHIPPED_ARTIFACTS_DIR, agentArtifactName(version, arch));
  const present = await access(path).then(
    () => true,
    () => false,
  );
  if (!present) return undefined;
  const sum = (await readFile(`${path}.sha256`, 'utf8').catch(() => '')).split(/\s/)[0] ?? '';
  const { sha256 } = await digests.of(path);
  if (sum !== sha256)
    throw failure(
      'install.artifact-corrupt',
      `${path} has sha256 ${sha256}, not ${sum || '(no .sha256 file beside it)'}`,
      'install edgebox again (its package ships the artefacts with their sums), or remove the file to build one from a checkout',
    );
  return { path, sha256 };
}
