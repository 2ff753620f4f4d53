import { describe, expect, it } from 'vitest';
import { ownershipSelector } from '../../src/apply/plan.js';
import { agentKubeconfigFile, localRuntimeRbac } from '../../src/local/agent-identity.js';
import { agentArgs, controllerArgs, controllerIds } from '../../src/local/self-healing.js';
import { example } from './render-fixtures.js';

describe('local box: agent and controller command lines', () => {
  it("an agent binds its module's loopback address and gets the box-wide UDP port, its HTTP port, the address map, its runtime file and the process role driver", () => {
    expect(
      agentArgs({
        spec: '/s/box.yaml',
        module: 'm2',
        secretFile: '/b/box-secret',
        kubeconfig: '/b/kubeconfig',
        address: '127.0.1.2',
        port: 17946,
        httpPort: 40001,
        addressMap: '/b/address-map.json',
        runtimeFile: '/b/modules/m2/runtime.jsonl',
        runtimeApiSocket: '/b/api.sock',
        localDir: '/b',
      }),
    ).toEqual([
      'agent',
      'run',
      '--spec',
      '/s/box.yaml',
      '--module',
      'm2',
      '--secret-file',
      '/b/box-secret',
      '--kubeconfig',
      '/b/kubeconfig',
      '--address',
      '127.0.1.2',
      '--port',
      '17946',
      '--http-port',
      '40001',
      '--metrics-port',
      '0',
      '--address-map',
      '/b/address-map.json',
      '--runtime',
      'local',
      '--runtime-file',
      '/b/modules/m2/runtime.jsonl',
      '--runtime-api-socket',
      '/b/api.sock',
      '--role-driver',
      'process',
      '--local-dir',
      '/b',
    ]);
  });

  it('a controller gets its identity, metrics port and the box dir for the local power driver', () => {
    expect(controllerArgs({ spec: '/s/box.yaml', kubeconfig: '/b/kubeconfig', id: 'controller-2', metricsPort: 40002, dir: '/b' })).toEqual([
      'controller',
      '--spec',
      '/s/box.yaml',
      '--kubeconfig',
      '/b/kubeconfig',
      '--id',
      'controller-2',
      '--metrics-port',
      '40002',
      '--local-dir',
      '/b',
    ]);
    expect(controllerIds(2)).toEqual(['controller-1', 'controller-2']);
  });

  it("each agent's kubeconfig lives in its module's directory", () => {
    expect(agentKubeconfigFile('/b', 'm2')).toBe('/b/modules/m2/agent-kubeconfig.yaml');
  });

  it('the simulated runtime may list pods, for every agent of the box, and edgebox apply never prunes that grant', () => {
    const box = example('article-box');
    const [role, binding] = localRuntimeRbac(box) as { metadata: { labels?: Record<string, string> }; rules?: unknown; subjects?: { name: string }[] }[];
    expect(role!.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]);
    expect(binding!.subjects!.map((s) => s.name)).toEqual(box.spec.modules.map((m) => `edgebox-agent-${m.name}`));
    // Prune deletes what carries the box's ownership labels and the spec no longer renders.
    const owned = ownershipSelector(box.metadata.name).split(',');
    for (const o of [role!, binding!]) expect(owned.some((l) => o.metadata.labels?.[l.split('=')[0]!] === l.split('=')[1])).toBe(false);
  });
});
