import { describe, expect, it } from 'vitest';
import { alreadyVoter, decimalId, gatewayError, hexId, learnerNotReady, parseMemberList } from '../../src/agent/role/etcd-gateway.js';
import { apiserverArgs, bootstrapCluster, etcdArgs, initialCluster, ownMember, type ServerLayout } from '../../src/local/process-plan.js';
import { backendOrder } from '../../src/local/api-proxy.js';
import { servingNames } from '../../src/local/box-ca.js';

const layout = (module: string, address: string): ServerLayout => ({
  module,
  address,
  ports: { etcdClient: 2379, etcdPeer: 2380, apiserver: 6443 },
  clusterToken: 'edgebox-b',
  dataDir: `/b/modules/${module}/etcd`,
  bin: { etcd: '/bin/etcd', apiserver: '/bin/kube-apiserver' },
  logs: { etcd: `/b/logs/etcd-${module}.log`, apiserver: `/b/logs/kube-apiserver-${module}.log` },
  pki: {
    ca: '/b/pki/ca.crt',
    servingCert: '/b/pki/apiserver.crt',
    servingKey: '/b/pki/apiserver.key',
    tokenFile: '/b/pki/tokens.csv',
    serviceAccountKey: '/b/pki/sa.key',
  },
  timings: { defaultTolerationSeconds: 300, etcdHeartbeatMs: 100, etcdElectionTimeoutMs: 1000 },
});

describe('process role driver: command lines', () => {
  const m4 = layout('m4', '127.0.1.4');

  it('an etcd member listens on its module address, joins with the initial cluster it is given, and force-new-cluster only when asked', () => {
    const args = etcdArgs(m4, { initialCluster: 'm2=http://127.0.1.2:2380,m4=http://127.0.1.4:2380', state: 'existing' });
    expect(args).toEqual([
      '--name=m4',
      '--data-dir=/b/modules/m4/etcd',
      '--listen-client-urls=http://127.0.1.4:2379',
      '--advertise-client-urls=http://127.0.1.4:2379',
      '--listen-peer-urls=http://127.0.1.4:2380',
      '--initial-advertise-peer-urls=http://127.0.1.4:2380',
      '--initial-cluster=m2=http://127.0.1.2:2380,m4=http://127.0.1.4:2380',
      '--initial-cluster-state=existing',
      '--initial-cluster-token=edgebox-b',
      '--heartbeat-interval=100',
      '--election-timeout=1000',
    ]);
    expect(etcdArgs(m4, { initialCluster: 'm4=http://127.0.1.4:2380', state: 'existing', forceNewCluster: true }).at(-1)).toBe('--force-new-cluster');
  });

  it("an API server uses its own module's member, binds its module address and serves the box certificate", () => {
    const args = apiserverArgs(m4);
    expect(args).toContain('--etcd-servers=http://127.0.1.4:2379');
    expect(args).toContain('--bind-address=127.0.1.4');
    expect(args).toContain('--advertise-address=127.0.1.4');
    expect(args).toContain('--secure-port=6443');
    expect(args).toContain('--tls-cert-file=/b/pki/apiserver.crt');
    expect(args).toContain('--token-auth-file=/b/pki/tokens.csv');
  });

  it('the first servers start as one cluster', () => {
    expect(bootstrapCluster([layout('m1', '127.0.1.1'), layout('m2', '127.0.1.2'), layout('m3', '127.0.1.3')])).toBe(
      'm1=http://127.0.1.1:2380,m2=http://127.0.1.2:2380,m3=http://127.0.1.3:2380',
    );
  });
});

describe('process role driver: joining', () => {
  // /v3/cluster/member/add's answer, as etcd v3.6 sends it: the new learner has no name and no client URLs yet.
  const added = {
    header: { cluster_id: '17553609501126467861', member_id: '12343605294104187144' },
    member: { ID: '9966302705903307119', peerURLs: ['http://127.0.1.4:2380'], isLearner: true },
    members: [
      { ID: '9966302705903307119', peerURLs: ['http://127.0.1.4:2380'], isLearner: true },
      { ID: '12343605294104187144', name: 'm2', peerURLs: ['http://127.0.1.2:2380'], clientURLs: ['http://127.0.1.2:2379'] },
      { ID: '5', name: '', peerURLs: ['http://127.0.1.5:2380'], isLearner: true },
    ],
  };
  const members = parseMemberList(added);

  it("parses the gateway's uint64 ids (decimal strings) into hex and back", () => {
    expect(members.map((m) => [m.id, m.name, m.learner])).toEqual([
      ['8a4f6b81dd61896f', '', true],
      ['ab4d4b9da2b61108', 'm2', false],
      ['5', '', true],
    ]);
    expect(hexId('9966302705903307119')).toBe('8a4f6b81dd61896f');
    expect(decimalId('8a4f6b81dd61896f')).toBe('9966302705903307119');
  });

  it('the initial cluster names every member, the new one under its module name, another unstarted one nameless (as etcdctl does)', () => {
    expect(initialCluster(members, { id: '8a4f6b81dd61896f', name: 'm4' })).toBe('m4=http://127.0.1.4:2380,m2=http://127.0.1.2:2380,=http://127.0.1.5:2380');
  });

  it('finds its own member by peer URL (a learner not started yet has no name)', () => {
    expect(ownMember(members, layout('m4', '127.0.1.4'))?.id).toBe('8a4f6b81dd61896f');
    expect(ownMember(members, layout('m6', '127.0.1.6'))).toBeUndefined();
  });

  it.each([
    ['{"code":9,"message":"etcdserver: can only promote a learner member which is in sync with leader"}', true, false],
    ['{"code":9,"message":"etcdserver: can only promote a learner member"}', false, true],
    ['{"code":5,"message":"etcdserver: member not found"}', false, false],
  ])('reads the gateway error %s (retry the promotion: %s, promoted already: %s)', (body, retry, done) => {
    expect(learnerNotReady(gatewayError(body))).toBe(retry);
    expect(alreadyVoter(gatewayError(body))).toBe(done);
  });

  it('keeps a non-JSON error body as text', () => {
    expect(gatewayError('upstream connect error')).toBe('upstream connect error');
  });
});

describe('local box: API address and certificate', () => {
  const backends = ['127.0.1.1:6443', '127.0.1.2:6443', '127.0.1.3:6443'];

  it.each([
    ['none ready, none used yet', new Set<string>(), undefined, backends],
    ['.2 and .3 ready, none used yet', new Set(['127.0.1.2:6443', '127.0.1.3:6443']), undefined, ['127.0.1.2:6443', '127.0.1.3:6443', '127.0.1.1:6443']],
    ['.2 and .3 ready, .3 used last', new Set(['127.0.1.2:6443', '127.0.1.3:6443']), '127.0.1.3:6443', ['127.0.1.3:6443', '127.0.1.2:6443', '127.0.1.1:6443']],
    // The one that served last but is no longer ready goes after every ready one.
    ['.2 ready, .1 used last', new Set(['127.0.1.2:6443']), '127.0.1.1:6443', ['127.0.1.2:6443', '127.0.1.1:6443', '127.0.1.3:6443']],
  ])('tries ready servers first, the last one used first among them (%s)', (_what, ready, last, order) => {
    expect(backendOrder(backends, ready, last)).toEqual(order);
  });

  it('the serving certificate names the API address, every module address and the in-cluster names', () => {
    expect(servingNames(['127.0.1.1', '127.0.1.2'])).toBe(
      'IP:127.0.0.1,IP:127.0.1.1,IP:127.0.1.2,IP:10.43.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
    );
  });
});
