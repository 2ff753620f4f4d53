import { createHash } from 'node:crypto';
import type { InstallInputs } from '../../src/install/plan.js';

export const sha256 = (t: string): string => createHash('sha256').update(t).digest('hex');

/** Install's inputs for table tests: arm64 only, digests as plain words. */
export function installInputs(k3sDigest: string, agentDigest: string): InstallInputs {
  return {
    k3s: { arm64: { path: '/tmp/k3s-arm64', sha256: k3sDigest, version: 'v1.32.5+k3s1' } },
    agent: { arm64: { path: '/tmp/agent.tar.gz', sha256: agentDigest } },
    edgeboxVersion: '0.1.0',
    tokenSha256: 'token-digest',
    boxSecretSha256: 'secret-digest',
    specText: 'spec text\n',
    sha256,
  };
}
