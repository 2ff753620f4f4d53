import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readApiTarget } from '../../src/agent/api/kubeconfig.js';
import { kubeconfigFlags, loadKubeConfig } from '../../src/kube/kubeconfig.js';

const path = fileURLToPath(new URL('../fixtures/kubeconfig-two-contexts.yaml', import.meta.url));

describe('--context', () => {
  it.each([
    [undefined, 'https://127.0.0.1:1'],
    ['first', 'https://127.0.0.1:1'],
    ['second', 'https://127.0.0.1:2'],
  ])('context %s talks to %s', async (context, server) => {
    expect(loadKubeConfig(kubeconfigFlags({ kubeconfig: path, context })).getCurrentCluster()?.server).toBe(server);
    // The agent reads its kubeconfig without the client library; the same choice.
    expect((await readApiTarget(path, context)).server).toBe(server);
  });

  it('an unknown context is bad input that lists the known ones', async () => {
    expect(() => loadKubeConfig({ path, context: 'nope' })).toThrow(/no context 'nope'/);
    await expect(readApiTarget(path, 'nope')).rejects.toThrow(/no context named 'nope'/);
  });
});
