import { copyFile, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { runScript } from '../cli/run-script.js';
import { packageRoot } from '../local/toolchain.js';
import { EDGEBOX_VERSION } from '../render/controller.js';
import { buildAgentArtifact } from './agent-artifact.js';
import { agentArtifactName } from './agent-runtime.js';
import { SHIPPED_ARTIFACTS_DIR } from './shipped-artifacts.js';

/**
 * `npm run artifacts` (also run by `npm pack`, before it packs): the agent's artefacts for
 * linux/amd64 and linux/arm64, built from this checkout (after `npm run build`) and copied with
 * their `.sha256` into `dist/agent-artifacts/`, which the package ships. `edgebox install` from the
 * package installs those (shipped-artifacts.ts): it cannot build them without the development
 * dependencies.
 */
async function ship(): Promise<void> {
  const root = packageRoot();
  const out = join(root, SHIPPED_ARTIFACTS_DIR);
  await mkdir(out, { recursive: true });
  for (const arch of ['amd64', 'arm64'] as const) {
    const built = await buildAgentArtifact({ arch, version: EDGEBOX_VERSION, root, progress: (m) => process.stderr.write(`artifacts: ${m}\n`) });
    const name = agentArtifactName(EDGEBOX_VERSION, arch);
    // The archive before its sum, each by rename: a sum never vouches for a file half copied.
    for (const [from, to] of [
      [built.path, join(out, name)],
      [`${built.path}.sha256`, join(out, `${name}.sha256`)],
    ] as const) {
      await copyFile(from, `${to}.tmp`);
      await rename(`${to}.tmp`, to);
    }
    process.stdout.write(`${join(out, name)}  ${(built.bytes / 1e6).toFixed(1)} MB  sha256 ${built.sha256}\n`);
  }
}

await runScript('artifacts', ship);
