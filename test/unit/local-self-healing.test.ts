import { describe, expect, it } from 'vitest';
import { boxTag, partitionRules, partitionsIn, ruleArgs } from '../../src/local/partition.js';
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
      '--address-map',
      '/b/address-map.json',
      '--runtime',
      'local',
      '--runtime-file',
      '/b/modules/m2/runtime.jsonl',
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

describe('local box: partitions', () => {
  const a = { module: 'm2', address: '127.0.1.2' };
  const b = { module: 'm1', address: '127.0.1.1' };

  it('drops UDP to the box port both ways, tagged with the box and the pair (in name order)', () => {
    const rules = partitionRules({ dir: '/b', port: 17946, a, b });
    const tag = `edgebox-partition:${boxTag('/b')}:m1:m2`;
    expect(rules).toEqual([
      { source: '127.0.1.2', destination: '127.0.1.1', port: 17946, comment: tag },
      { source: '127.0.1.1', destination: '127.0.1.2', port: 17946, comment: tag },
    ]);
    expect(ruleArgs(rules[0]!)).toEqual([
      '-s',
      '127.0.1.2',
      '-d',
      '127.0.1.1',
      '-p',
      'udp',
      '--dport',
      '17946',
      '-m',
      'comment',
      '--comment',
      tag,
      '-j',
      'DROP',
    ]);
    expect(partitionRules({ dir: '/b', port: 17946, a: b, b: a })[0]!.comment).toBe(tag);
  });

  it.each([
    ['quoted', '"'],
    ['unquoted', ''],
  ])("finds a box's partitions in iptables -S output (%s comments), and only that box's", (_name, q) => {
    const mine = `edgebox-partition:${boxTag('/b')}`;
    const other = `edgebox-partition:${boxTag('/other')}`;
    const listing = [
      '-P INPUT ACCEPT',
      `-A INPUT -s 127.0.1.2/32 -d 127.0.1.1/32 -p udp -m udp --dport 17946 -m comment --comment ${q}${mine}:m1:m2${q} -j DROP`,
      `-A INPUT -s 127.0.1.1/32 -d 127.0.1.2/32 -p udp -m udp --dport 17946 -m comment --comment ${q}${mine}:m1:m2${q} -j DROP`,
      `-A INPUT -s 127.0.1.3/32 -d 127.0.1.1/32 -p udp -m udp --dport 17947 -m comment --comment ${q}${other}:m1:m3${q} -j DROP`,
      '-A INPUT -p tcp --dport 22 -j ACCEPT',
    ].join('\n');
    expect(partitionsIn(listing, '/b')).toEqual([{ module: 'm1', peer: 'm2' }]);
    expect(partitionsIn(listing, '/nowhere')).toEqual([]);
  });
});
