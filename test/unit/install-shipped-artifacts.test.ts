import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { LocalDigests } from '../../src/install/local-digests.js';
import { SHIPPED_ARTIFACTS_DIR, shippedArtifact } from '../../src/install/shipped-artifacts.js';

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A package root whose dist/agent-artifacts holds `files` (name -> content). */
async function root(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgebox-shipped-'));
  await mkdir(join(dir, SHIPPED_ARTIFACTS_DIR), { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, SHIPPED_ARTIFACTS_DIR, name), content);
  return dir;
}

describe('the agent artefacts an edgebox package ships', () => {
  const name = 'edgebox-agent-0.1.0-linux-arm64.tar.gz';

  it('are installed as shipped when they match their sums', async () => {
    const dir = await root({ [name]: 'the artefact', [`${name}.sha256`]: `${hex('the artefact')}  ${name}\n` });
    expect(await shippedArtifact(dir, '0.1.0', 'arm64', await LocalDigests.open(dir))).toEqual({
      path: join(dir, SHIPPED_ARTIFACTS_DIR, name),
      sha256: hex('the artefact'),
    });
  });

  it('are none in a checkout that has not shipped any (install builds its own)', async () => {
    const dir = await root({});
    expect(await shippedArtifact(dir, '0.1.0', 'arm64', await LocalDigests.open(dir))).toBeUndefined();
  });

  it.each([
    [
      'cut short or altered',
      { [name]: 'the artefact, altered', [`${name}.sha256`]: `${hex('the artefact')}  ${name}\n` },
      /has sha256 [0-9a-f]{64}, not [0-9a-f]{64}$/,
    ],
    ['without its sum', { [name]: 'the artefact' }, /no \.sha256 file beside it/],
  ])('are refused %s, never copied onto a module', async (_, files, message) => {
    const dir = await root(files);
    const e = (await shippedArtifact(dir, '0.1.0', 'arm64', await LocalDigests.open(dir)).catch((x: unknown) => x)) as EdgeboxError;
    expect(e).toBeInstanceOf(EdgeboxError);
    expect(e.diagnostics[0]).toMatchObject({ code: 'install.artifact-corrupt' });
    expect(e.diagnostics[0]?.message).toMatch(message);
    expect(e.diagnostics[0]?.hint).toMatch(/install edgebox again/);
  });
});
