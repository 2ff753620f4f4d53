import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commitFromName, k3sBuildCommand, k3sVersion, parseK3sVersion, vendoredKubernetes } from '../../src/local/engine/k3s-build.js';
import { k3sNetwork, localJoinUrl, localOverrides, onModule, refusedFlags, serverCommand } from '../../src/local/engine/k3s-plan.js';
import { memberEndpoint, memberGateway, memberModules } from '../../src/local/member-gateway.js';
import type { BoxState } from '../../src/local/box-state.js';

const GOMOD = `module github.com/k3s-io/k3s

go 1.22.5

replace (
	k8s.io/kms => github.com/k3s-io/kubernetes/staging/src/k8s.io/kms v1.31.1-k3s3
	k8s.io/kubernetes => github.com/k3s-io/kubernetes v1.31.1-k3s3
)
`;

describe('K3s from source: version and build command', () => {
  it.each([
    ['k3s-src-c0d661b3.tar.gz', 'c0d661b3'],
    ['k3s-c0d661b3', 'c0d661b3'],
    ['/work/shared/vendor/k3s-src-0123456789abcdef.tgz', '0123456789abcdef'],
    ['kubernetes.tar.gz', undefined],
  ])('the commit of %s is %s', (name, commit) => {
    expect(commitFromName(name)).toBe(commit);
  });

  it('reads the vendored Kubernetes from the replace, not a staging module', () => {
    expect(vendoredKubernetes(GOMOD)).toBe('v1.31.1-k3s3');
    expect(vendoredKubernetes('module x\n')).toBeUndefined();
  });

  it('names the version as K3s does for an untagged commit, and reads it back from `k3s --version`', () => {
    const v = k3sVersion({ commit: 'c0d661b3ffee', kubernetes: 'v1.31.1-k3s3' });
    expect(v).toBe('v1.31.1+k3s-c0d661b3');
    expect(parseK3sVersion(`k3s version ${v} (c0d661b3)\ngo version go1.26.8\n`)).toBe(v);
    expect(parseK3sVersion('etcd Version: 3.5.13')).toBeUndefined();
    // The binary answers to the name it was run by: a fresh build is k3s.partial until renamed.
    expect(parseK3sVersion(`k3s.partial version ${v} (c0d661b3)\ngo version go1.26.8\n`)).toBe(v);
    expect(parseK3sVersion('k3s-arm64 version v1.32.5+k3s1 (8e8f2a47)\n')).toBe('v1.32.5+k3s1');
  });

  const cmd = k3sBuildCommand({
    source: { dir: '/src/k3s-c0d661b3', commit: 'c0d661b3', kubernetes: 'v1.31.1-k3s3' },
    goVersion: 'go1.26.8',
    out: '/cache/k3s',
  });
  const ldflags = cmd.args[cmd.args.indexOf('-ldflags') + 1]!;

  it.each([
    // Without it the server refuses to start: "kubernetes golang build version not set".
    '-X github.com/k3s-io/k3s/pkg/version.UpstreamGolang=go1.26.8',
    '-X github.com/k3s-io/k3s/pkg/version.Version=v1.31.1+k3s-c0d661b3',
    '-X k8s.io/component-base/version.gitVersion=v1.31.1+k3s-c0d661b3',
    '-X k8s.io/client-go/pkg/version.gitVersion=v1.31.1+k3s-c0d661b3',
  ])('sets %s', (flag) => {
    expect(ldflags.split(' -X ').map((f, i) => (i === 0 ? f : `-X ${f}`))).toContain(flag);
  });

  it('builds cmd/server inside the tree with CGO and the control-plane tags, no containerd', () => {
    expect(cmd.cwd).toBe('/src/k3s-c0d661b3');
    expect(cmd.args.slice(-3)).toEqual(['-o', '/cache/k3s', './cmd/server']);
    expect(cmd.env.CGO_ENABLED).toBe('1');
    expect(cmd.env.GOTOOLCHAIN).toBe('local');
    const tags = cmd.args[cmd.args.indexOf('-tags') + 1]!.split(' ');
    expect(tags).toEqual(expect.arrayContaining(['netcgo', 'osusergo', 'providerless', 'urfave_cli_no_docs']));
    expect(tags).not.toContain('ctrd');
  });
});

describe('K3s engine network', () => {
  it('gives every module its own namespace and address on one private /24, with names Linux accepts', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), { minLength: 1, maxLength: 40 }), (dir, modules) => {
        const net = k3sNetwork(dir, modules);
        const members = Object.values(net.members);
        expect(members).toHaveLength(modules.length);
        const prefix = net.hostAddress.replace(/\.1$/, '.');
        expect(net.hostAddress).toMatch(/^10\.213\.\d{1,3}\.1$/);
        for (const m of members) expect(m.address.startsWith(prefix)).toBe(true);
        for (const key of ['address', 'netns', 'veth'] as const) expect(new Set(members.map((m) => m[key])).size).toBe(members.length);
        expect(members.map((m) => m.address)).not.toContain(net.hostAddress);
        for (const name of [net.bridge, ...members.map((m) => m.veth)]) expect(name.length).toBeLessThanOrEqual(15);
      }),
    );
  });

  it('gives two boxes different networks (most of the time: the /24 is drawn from the box directory)', () => {
    expect(k3sNetwork('/tmp/box-a', ['m']).bridge).not.toBe(k3sNetwork('/tmp/box-b', ['m']).bridge);
  });
});

describe('what a test box changes in the rendered config', () => {
  const base = { address: '10.213.4.2', dataDir: '/box/modules/m/k3s/data', kubeconfig: '/box/k.yaml', tokenFile: '/box/pki/tokens.csv' };

  it.each([
    ['first server', base, undefined],
    ['joining server', { ...base, joinUrl: 'https://10.213.4.3:6443' }, 'https://10.213.4.3:6443'],
  ])('%s', (_name, o, server) => {
    const d = localOverrides(o);
    expect(d.server).toBe(server);
    expect(d['node-ip']).toBe('10.213.4.2');
    expect(d['disable-agent']).toBe(true);
    expect(d['flannel-backend']).toBe('none');
    // Appended (`+`), so the rendered kube-apiserver-arg tuning stays.
    expect(d['kube-apiserver-arg+']).toEqual(['token-auth-file=/box/pki/tokens.csv']);
    expect(d['kube-apiserver-arg']).toBeUndefined();
  });

  it('starts K3s in the module namespace over its own /etc layer, as the process ip execs into', () => {
    const c = serverCommand({ netns: 'edgebox-4-0', etcUpper: '/u', etcWork: '/w', bin: '/bin/k3s', module: 'master-1' });
    expect(c.bin).toBe('ip');
    expect(c.args.slice(0, 3)).toEqual(['netns', 'exec', 'edgebox-4-0']);
    expect(c.args.slice(-8)).toEqual(['/u', '/w', '', '', '', '', '/bin/k3s', 'server']);
    expect(c.args[5]).toMatch(/exec "\$@"$/);
    expect(c.env).toEqual({ NODE_NAME: 'master-1' });
  });
});

describe("a module's host in a local box", () => {
  const roots = { etc: '/box/modules/m/k3s/etc', dataDir: '/box/modules/m/k3s/data', run: '/box/modules/m/k3s/run' };

  it.each([
    ['/etc/rancher/k3s/config.yaml', '/box/modules/m/k3s/etc/rancher/k3s/config.yaml'],
    ['/var/lib/rancher/k3s/server/db/etcd', '/box/modules/m/k3s/data/server/db/etcd'],
    ['/var/lib/rancher/k3s', '/box/modules/m/k3s/data'],
    ['/run/edgebox/k3s-snapshot-client/token', '/box/modules/m/k3s/run/k3s-snapshot-client/token'],
    // Only whole components, and only the module's roots: arguments and other paths stay.
    ['/etcetera', '/etcetera'],
    ['/var/lib/rancher/k3s-other', '/var/lib/rancher/k3s-other'],
    ['/usr/bin/k3s', '/usr/bin/k3s'],
    ['--data-dir', '--data-dir'],
    // A flag's value in the same word.
    ['--cluster-reset-restore-path=/var/lib/rancher/k3s/server/db/snapshots/s', '--cluster-reset-restore-path=/box/modules/m/k3s/data/server/db/snapshots/s'],
    ['--name=/usr/bin/k3s', '--name=/usr/bin/k3s'],
    ['https://10.0.0.1:6443', 'https://10.0.0.1:6443'],
  ])('%s is %s', (path, local) => {
    expect(onModule(path, roots)).toBe(local);
  });

  const members = { a: { address: '10.213.4.2' }, b: { address: '10.213.4.3' }, c: { address: '10.213.4.4' } };

  it("never dials the real box's addresses: the API address becomes a running server of the box, not the module itself", () => {
    expect(localJoinUrl({ configured: 'https://192.168.8.10:6443', module: 'a', members, running: ['a', 'c'] })).toBe('https://10.213.4.4:6443');
    expect(localJoinUrl({ configured: 'https://192.168.8.10:6443', module: 'c', members, running: ['a', 'c'] })).toBe('https://10.213.4.2:6443');
    // Nothing running: the first other member (the start fails there, as it would on a box with none).
    expect(localJoinUrl({ configured: 'https://192.168.8.10:6443', module: 'a', members, running: [] })).toBe('https://10.213.4.3:6443');
  });

  it('keeps a box-local server, and no server: stays none (a cluster reset needs none)', () => {
    expect(localJoinUrl({ configured: 'https://10.213.4.3:6443', module: 'a', members, running: ['c'] })).toBe('https://10.213.4.3:6443');
    expect(localJoinUrl({ module: 'a', members, running: ['b'] })).toBeUndefined();
  });
});

describe('config keys K3s skipped', () => {
  it.each([
    ['time="..." level=warning msg="Unknown flag --kubelet-config-dir found in config.yaml, skipping\\n"', ['--kubelet-config-dir']],
    [
      'msg="Unknown flag --a found in config.yaml, skipping"\nmsg="Unknown flag --a found in config.yaml, skipping"\nmsg="Unknown flag --b-c found in config.yaml, skipping"',
      ['--a', '--b-c'],
    ],
    ['level=info msg="Starting k3s v1.31.1+k3s-c0d661b3"', []],
  ])('%s', (log, flags) => {
    expect(refusedFlags(log)).toEqual(flags);
  });
});

describe('memberEndpoint: where a module of a local box answers as an etcd member', () => {
  const base = { dir: '/box', addresses: { s1: '127.0.1.1', a1: '127.0.1.4' }, ports: { server: { etcdClient: 2379 } } };

  it("the process engine: etcd at every module's loopback address", () => {
    const state = base as unknown as BoxState;
    expect(memberEndpoint(state, 's1')).toBe('http://127.0.1.1:2379');
    expect(memberModules(state)).toEqual(['s1', 'a1']);
  });

  it("the K3s engine: K3s's gateway at a server-capable module's namespace address; none for an agent-only module", () => {
    const state = { ...base, k3s: { network: { members: { s1: { address: '10.213.4.2' } } } } } as unknown as BoxState;
    expect(memberEndpoint(state, 's1')).toBe('https://10.213.4.2:2382');
    expect(memberEndpoint(state, 'a1')).toBeUndefined();
    expect(memberGateway(state, 'a1')).toBeUndefined();
    expect(memberModules(state)).toEqual(['s1']);
  });
});
