import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'edgebox-kubeconfig-'));
function kubeconfig(name: string, server: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{ name: ${name}, cluster: { server: "${server}" } }]
users: [{ name: ${name}, user: { token: t } }]
contexts: [{ name: ${name}, context: { cluster: ${name}, user: ${name} } }]
current-context: ${name}
`,
  );
  return file;
}
const flag = kubeconfig('flag', 'https://127.0.0.1:1001');
const env = kubeconfig('env', 'https://127.0.0.1:1002');
const home = join(dir, 'home');

describe('loadKubeConfig', () => {
  it.each<{ name: string; path?: string; KUBECONFIG?: string; server: string }>([
    { name: '--kubeconfig wins over KUBECONFIG', path: flag, KUBECONFIG: env, server: 'https://127.0.0.1:1001' },
    { name: 'KUBECONFIG when no flag', KUBECONFIG: env, server: 'https://127.0.0.1:1002' },
    { name: 'KUBECONFIG skips a missing file', KUBECONFIG: `${join(dir, 'missing')}:${env}`, server: 'https://127.0.0.1:1002' },
  ])('$name', ({ path, KUBECONFIG, server }) => {
    const kc = loadKubeConfig({ ...(path ? { path } : {}), env: KUBECONFIG ? { KUBECONFIG } : {}, home });
    expect(kc.getCurrentCluster()?.server).toBe(server);
  });

  it('falls back to ~/.kube/config, and says so when it is missing', () => {
    expect(() => loadKubeConfig({ env: {}, home })).toThrow(`no kubeconfig at ${join(home, '.kube', 'config')} (from the default location)`);
  });

  it('names the flag when --kubeconfig points nowhere (bad input, exit 2)', () => {
    try {
      loadKubeConfig({ path: join(dir, 'nope'), env: {}, home });
      expect.unreachable();
    } catch (e) {
      expect((e as { kind: string }).kind).toBe('input');
      expect((e as Error).message).toContain('(from --kubeconfig)');
    }
  });
});
