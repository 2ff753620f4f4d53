import { describe, expect, it } from 'vitest';
import { agentArgs, controllerArgs, controllerIds } from '../../src/local/self-healing.js';

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
});
