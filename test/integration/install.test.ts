import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdGateway } from '../../src/agent/role/etcd-gateway.js';
import { connect } from '../../src/install/ssh.js';
import { requireK3s } from '../../src/local/engine/k3s-setup.js';
import { k3sBuildCommand, k3sVersion, vendoredKubernetes } from '../../src/local/engine/k3s-build.js';
import { cacheRoot } from '../../src/local/cache.js';
import { eventually } from './harness.js';
import { addContainerRuntime, PAUSE_IMAGE, stopContainers } from './container-runtime.js';
import { createSshHosts, type SshHosts } from './ssh-hosts.js';

/**
 * `edgebox install` onto hosts reachable only over SSH (ssh-hosts.ts: real OpenSSH servers, each
 * in its own network and mount namespace, nothing installed), with the real K3s built here
 * (`edgebox local setup --engine k3s`). The server hosts run K3s control-plane only (a kubelet
 * on every server would take this machine's two cores), so each carries a `config.yaml.d` drop-in
 * with what the local K3s engine changes for that reason (src/local/engine/k3s-plan.ts,
 * localOverrides). The first box's agent module, agent-1, runs K3s's real agent: kubelet and
 * kube-proxy on a containerd the host provides (container-runtime.ts: this K3s has no embedded
 * one). Install never touches config.yaml.d. The binary is v1.31.1 while the spec rules need v1.32, hence
 * --ignore-k3s-version. Each K3s server takes about 430 MB and 10-20 s.
 */

const CLI = join(process.cwd(), 'bin', 'edgebox.js');

const TEST_HOST_DROP_IN = [
  '# The test host: no kubelet or containerd can run here (see install.test.ts).',
  'disable-agent: true',
  'flannel-backend: none',
  'disable: [traefik, servicelb, metrics-server, local-storage, coredns]',
  'disable-helm-controller: true',
  'disable-network-policy: true',
  'disable-cloud-controller: true',
  'egress-selector-mode: disabled',
  '',
].join('\n');

function spec(name: string, modules: { name: string; address: string; roles?: string }[]): string {
  return [
    'apiVersion: edgebox.dev/v1alpha1',
    'kind: EdgeBox',
    `metadata: { name: ${name} }`,
    'spec:',
    '  controlPlane: { servers: 3 }',
    '  modules:',
    ...modules.map((m) => `    - { name: ${m.name}, hardware: generic-x86-64, address: ${m.address}${m.roles ? `, roles: [${m.roles}]` : ''} }`),
    '',
  ].join('\n');
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The CLI as a user runs it; `killAfter`: SIGKILL it once its progress has shown that many step lines. */
function edgebox(args: string[], o: { killAfter?: number; env?: NodeJS.ProcessEnv; cli?: string } = {}): Promise<Run> {
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [o.cli ?? CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(o.env ? { env: { ...process.env, ...o.env } } : {}),
    });
    let stdout = '';
    let stderr = '';
    let steps = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      steps = (stderr.match(/^\[[^\]]+\] /gm) ?? []).length;
      if (o.killAfter !== undefined && steps >= o.killAfter) child.kill('SIGKILL');
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 137 : 1), stdout, stderr, ms: Date.now() - start }));
  });
}

/**
 * K3s's releases as GitHub lays them out (`/<version>/<file>`), on 127.0.0.1: each `k3s` or
 * `k3s-arm64` with the `sha256sum-<arch>.txt` of what `files` held when it started.
 */
async function releaseMirror(
  files: Record<string, Buffer>,
): Promise<{ url: string; files: Record<string, Buffer>; requests: string[]; close(): Promise<void> }> {
  const sums: Record<string, string> = {};
  for (const [path, data] of Object.entries(files)) {
    const [version, file] = path.split('/') as [string, string];
    const arch = file === 'k3s' ? 'amd64' : 'arm64';
    sums[`${version}/sha256sum-${arch}.txt`] = `${createHash('sha256').update(data).digest('hex')}  ${file}\n`;
  }
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const path = decodeURIComponent((req.url ?? '').slice(1));
    const body = files[path] ?? (sums[path] !== undefined ? Buffer.from(sums[path]) : undefined);
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, files, requests, close: () => new Promise((r) => server.close(() => r())) };
}

const SERVERS = ['srv-1', 'srv-2', 'srv-3'];
/** The first box's agent module: a real K3s agent. */
const AGENT = 'agent-1';
const SECOND = ['srv-4', 'srv-5', 'srv-6'];

describe('edgebox install over SSH', () => {
  let hosts: SshHosts;
  let dir: string;
  let k3s: string;
  let boxFile: string;
  const address = (n: number) => `10.213.250.${10 + n}`;

  beforeAll(async () => {
    k3s = (await requireK3s()).path;
    dir = await mkdtemp(join(tmpdir(), 'edgebox-install-'));
    hosts = await createSshHosts({
      prefix: 'ebins',
      subnet: '10.213.250',
      hosts: [
        ...SERVERS.map((name, i) => ({ name, address: address(i + 1) })),
        ...SECOND.map((name, i) => ({ name, address: address(7 + i) })),
        { name: 'arm-1', address: address(4), unameMachine: 'aarch64' },
        { name: 'small-1', address: address(5), memTotalKiB: 1024 * 1024 },
        { name: 'busy-1', address: address(6) },
        { name: AGENT, address: address(10) },
      ],
    });
    for (const h of hosts.hosts.filter((x) => x.name !== AGENT)) {
      const r = await hosts.exec(
        h.name,
        `mkdir -p /etc/rancher/k3s/config.yaml.d && cat > /etc/rancher/k3s/config.yaml.d/90-test-host.yaml <<'EOF'\n${TEST_HOST_DROP_IN}EOF`,
      );
      expect(r.code, r.stderr).toBe(0);
    }
    await addContainerRuntime(hosts, AGENT, '10.42.99.0/24');
    boxFile = join(dir, 'box.yaml');
    await writeFile(
      boxFile,
      spec('installed', [...SERVERS.map((name, i) => ({ name, address: address(i + 1) })), { name: AGENT, address: address(10), roles: 'agent' }]),
    );
  }, 300_000);

  afterAll(async () => {
    // Down already when the resume test ran.
    if (hosts) await stopContainers(hosts, AGENT).catch(() => undefined);
    await hosts?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  const install = (file: string, ...extra: string[]) =>
    edgebox(['install', file, '--ssh-key', hosts.keyPath, '--k3s-binary', k3s, '--ignore-k3s-version', '-o', 'json', ...extra]);
  const listed = async (host: string, path: string) => (await hosts.exec(host, `ls -A ${path} 2>/dev/null`)).stdout.trim();
  /** kubectl on srv-1 with K3s's admin kubeconfig (the multi-call binary answers to its name); `input` on stdin. */
  const kubectl = async (args: string, input?: string) => {
    const r = await hosts.exec(
      'srv-1',
      `ln -sf /usr/local/bin/k3s /tmp/kubectl && /tmp/kubectl --kubeconfig /etc/rancher/k3s/k3s.yaml ${args}${input === undefined ? '' : ` <<'EOF'\n${input}\nEOF`}`,
    );
    if (r.code !== 0) throw new Error(`kubectl ${args}: ${r.stderr}`);
    return r.stdout;
  };
  /** The probe Deployment's pod on the agent module, once it runs there. */
  const probeRunning = () =>
    eventually(
      async () => {
        const pods = (JSON.parse(await kubectl('get pods -n default -l app=probe -o json')) as { items: Pod[] }).items.filter(
          (p) => !p.metadata.deletionTimestamp,
        );
        expect(pods).toHaveLength(1);
        expect(pods[0]!.spec.nodeName).toBe(AGENT);
        expect(pods[0]!.status.phase).toBe('Running');
        expect(pods[0]!.status.podIP).toMatch(/^10\.42\.99\./);
        return pods[0]!.metadata.name;
      },
      { timeoutMs: 120_000, intervalMs: 1000, message: `the probe pod runs on ${AGENT}` },
    );

  it('refuses a box whose modules are not what it says, naming each module and its fix, and changes nothing', async () => {
    // busy-1 has something on the kubelet's port, which every module needs.
    const busy = spawn('ip', [
      'netns',
      'exec',
      hosts.hosts.find((h) => h.name === 'busy-1')!.netns,
      process.execPath,
      '-e',
      "require('net').createServer().listen(10250)",
    ]);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const bad = join(dir, 'bad.yaml');
      await writeFile(
        bad,
        spec('bad', [
          { name: 'srv-1', address: address(1) },
          { name: 'arm-1', address: address(4) },
          { name: 'small-1', address: address(5) },
          { name: 'busy-1', address: address(6) },
          { name: 'gone-1', address: address(89), roles: 'agent' },
        ]),
      );
      const r = await install(bad);
      // Exit 2: the spec's hardware is wrong for arm-1 (bad input), whatever else is.
      expect(r.code, r.stderr).toBe(2);
      const errors = errorsOf(r) as { code: string; message: string; hint?: string; location?: { line: number } }[];
      const by = (code: string) => errors.find((e) => e.code === code);
      expect(by('install.arch-mismatch')?.message).toMatch(/^module arm-1 \(10\.213\.250\.14\): it is arm64 \(aarch64\)/);
      expect(by('install.memory')?.message).toMatch(/^module small-1 .*1\.0 GiB of memory/);
      expect(by('install.port-taken')?.message).toMatch(/^module busy-1 .*TCP port 10250/);
      expect(by('install.unreachable')?.message).toMatch(/^module gone-1 \(10\.213\.250\.99\)/);
      for (const e of errors.filter((x) => x.code !== 'install.refused')) {
        expect(e.hint, e.code).toBeTruthy();
        expect(e.location?.line, e.code).toBeGreaterThan(5);
      }
      for (const h of ['srv-1', 'arm-1', 'small-1', 'busy-1']) {
        expect(await listed(h, '/usr/local/bin'), h).toBe('');
        expect(await listed(h, '/etc/rancher/k3s'), h).toBe('config.yaml.d');
      }
    } finally {
      busy.kill();
    }
  }, 120_000);

  it('refuses a key the modules do not accept (exit 2), before anything changes', async () => {
    const r = await edgebox(['install', boxFile, '--ssh-key', hosts.otherKeyPath, '--k3s-binary', k3s, '--ignore-k3s-version', '-o', 'json']);
    expect(r.code, r.stderr).toBe(2);
    const errors = errorsOf(r).filter((e) => e.code === 'install.ssh-auth');
    expect(errors).toHaveLength(4);
    expect(errors[0]!.hint).toMatch(/ssh-copy-id/);
    for (const h of SERVERS) expect(await listed(h, '/usr/local/bin')).toBe('');
  }, 60_000);

  it('installs servers one at a time, each gated on its etcd voter, then the agents; a second run changes nothing', async () => {
    const dry = await install(boxFile, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as Report;
    const order = plan.phases
      .flatMap((p) => p.steps)
      .filter((s) => /^(enable and start k3s|wait for)/.test(s.step))
      .map((s) => `${s.module}: ${s.step.split(' (')[0]}`);
    expect(order).toEqual([
      'srv-1: enable and start k3s',
      'srv-1: wait for its API server to be ready',
      'srv-2: enable and start k3s',
      'srv-2: wait for its etcd member to be a voter with a leader',
      'srv-3: enable and start k3s',
      'srv-3: wait for its etcd member to be a voter with a leader',
      `${AGENT}: enable and start k3s-agent`,
    ]);
    for (const h of SERVERS) expect(await listed(h, '/usr/local/bin'), 'a dry run changes nothing').toBe('');

    // An airgap images directory: copied to every module before K3s starts (a K3s agent imports it).
    const images = join(dir, 'images');
    await mkdir(images);
    await writeFile(join(images, 'local-images.tar'), Buffer.alloc(10240));
    const first = await install(boxFile, '--airgap-images', images);
    expect(first.code, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout) as Report;
    console.log(`install of ${SERVERS.length + 1} modules (${SERVERS.length} servers, 1 agent) from nothing: ${(first.ms / 1000).toFixed(1)} s`);
    for (const p of report.phases) for (const s of p.steps) console.log(`  ${p.name} | ${s.module} | ${s.step} | ${((s.ms ?? 0) / 1000).toFixed(1)} s`);
    await expectInstalled(hosts, SERVERS, [first], [AGENT]);
    for (const h of [...SERVERS, AGENT]) expect(await listed(h, '/var/lib/rancher/k3s/agent/images'), h).toBe('local-images.tar');

    // The agent module: K3s's own agent, its kubelet on the host's containerd, its Node Ready with
    // the labels render gave it; a workload runs there, with a pod address from the module's CNI.
    const node = await eventually(
      async () => {
        const n = JSON.parse(await kubectl(`get node ${AGENT} -o json`)) as NodeJson;
        expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
        return n;
      },
      { timeoutMs: 120_000, intervalMs: 1000, message: `${AGENT}'s kubelet registers its Node, Ready` },
    );
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    expect(node.metadata.labels['edgebox.dev/module']).toBe(AGENT);
    console.log(`${AGENT}: K3s's agent, kubelet ${node.status.nodeInfo.kubeletVersion} on ${node.status.nodeInfo.containerRuntimeVersion}, Ready`);
    await kubectl('apply -f -', PROBE);
    console.log(`${AGENT}: the probe pod ${await probeRunning()} runs there`);

    // The agent as installed, from its own runtime: its resident memory on the module, once idle.
    await new Promise((r) => setTimeout(r, 15_000));
    for (const h of [...SERVERS, AGENT]) {
      const pid = (await hosts.exec(h, 'systemctl show -p MainPID --value edgebox-agent')).stdout.trim();
      const status = await hosts.exec(h, `cat /proc/${pid}/status; readlink /proc/${pid}/exe`);
      expect(status.stdout, h).toContain('/opt/edgebox/0.1.0/bin/node');
      console.log(`edgebox agent on ${h}: ${/VmRSS:\s+(\d+) kB/.exec(status.stdout)?.[1] ?? '?'} kB resident, 15 s after install`);
    }

    const again = await install(boxFile, '--airgap-images', images);
    expect(again.code, again.stderr).toBe(0);
    const unchanged = JSON.parse(again.stdout) as Report;
    expect(unchanged.unchanged).toBe(true);
    expect(unchanged.phases.flatMap((p) => p.steps)).toEqual([]);
    console.log(`re-run: ${(again.ms / 1000).toFixed(1)} s`);
    expect(again.ms).toBeLessThanOrEqual(10_000);

    // --k3s-version: the same K3s from a release mirror on this machine (laid out as GitHub's), into
    // a cache of its own (the rest of the cache, the agent's artefacts, linked in): downloaded and
    // checked once, the same binary, so nothing changes; then taken from the cache, nothing fetched.
    const version = (await requireK3s()).version;
    const mirror = await releaseMirror({ [`${version}/k3s`]: await readFile(k3s) });
    try {
      const cache = join(dir, 'cache');
      await mkdir(cache);
      for (const e of await readdir(cacheRoot())) if (e !== 'k3s-releases') await symlink(join(cacheRoot(), e), join(cache, e));
      const byVersion = () =>
        edgebox(
          ['install', boxFile, '--ssh-key', hosts.keyPath, '--k3s-version', version, '--k3s-release-url', mirror.url, '--ignore-k3s-version', '-o', 'json'],
          {
            env: { EDGEBOX_CACHE: cache },
          },
        );
      const downloaded = await byVersion();
      expect(downloaded.code, downloaded.stderr).toBe(0);
      expect((JSON.parse(downloaded.stdout) as Report).unchanged).toBe(true);
      expect(mirror.requests).toEqual([`/${encodeURIComponent(version)}/sha256sum-amd64.txt`, `/${encodeURIComponent(version)}/k3s`]);
      // By digest: a 200 MB Buffer is too large for the matcher's comparison.
      expect(
        createHash('sha256')
          .update(await readFile(join(cache, 'k3s-releases', version, 'k3s')))
          .digest('hex'),
      ).toBe(
        createHash('sha256')
          .update(await readFile(k3s))
          .digest('hex'),
      );
      const cached = await byVersion();
      expect(cached.code, cached.stderr).toBe(0);
      expect(mirror.requests).toHaveLength(2);
      console.log(
        `--k3s-version from a mirror on this machine: ${(downloaded.ms / 1000).toFixed(1)} s, then from the cache ${(cached.ms / 1000).toFixed(1)} s`,
      );

      // A mirror serving another file than its sums say: refused, nothing kept, nothing changed.
      mirror.files[`${version}/k3s`] = Buffer.from('not k3s');
      await rm(join(cache, 'k3s-releases'), { recursive: true });
      const altered = await byVersion();
      expect(altered.code, altered.stderr).toBe(1);
      expect(altered.stderr).toContain('"code": "install.k3s-download"');
      expect(altered.stderr).toMatch(/has sha256 [0-9a-f]{64}, not [0-9a-f]{64} as the release's sha256sum-amd64\.txt says/);
      expect(await readdir(join(cache, 'k3s-releases', version))).toEqual([]);
    } finally {
      await mirror.close();
    }
  }, 600_000);

  it('goes through a login with passwordless sudo as through root, and refuses one whose sudo asks for a password', async () => {
    for (const h of [...SERVERS, AGENT]) {
      await hosts.addUser(h, 'edge', { sudo: true });
      await hosts.addUser(h, 'nosudo', { sudo: false });
    }
    const as = (user: string) =>
      edgebox(['install', boxFile, '--ssh-user', user, '--ssh-key', hosts.keyPath, '--k3s-binary', k3s, '--ignore-k3s-version', '-o', 'json']);
    // Everything install reads (the token, 0600 files of root's) read through sudo: nothing to change.
    const edge = await as('edge');
    expect(edge.code, edge.stderr).toBe(0);
    expect((JSON.parse(edge.stdout) as Report).unchanged).toBe(true);
    const refused = await as('nosudo');
    expect(refused.code, refused.stderr).toBe(2);
    const errors = errorsOf(refused);
    expect(errors.filter((e) => e.code === 'install.ssh-sudo')).toHaveLength(4);
    expect(errors[0]!.hint).toContain("echo 'nosudo ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/edgebox");
  }, 120_000);

  it('installs from the npm package, which cannot build the agent artefact, with the artefacts it ships', async () => {
    // The package as npm installs it: its files (package.json "files"), its dependencies, none of
    // the development ones (rolldown, which building an artefact needs).
    const root = process.cwd();
    const pkg = join(dir, 'package');
    for (const f of ['package.json', 'package-lock.json', 'bin', 'dist', 'examples', 'local/toolchain'])
      await cp(join(root, f), join(pkg, f), { recursive: true, filter: (src) => !/[/\\]dist[/\\](oci|agent-artifacts)$/.test(src) });
    execFileSync('npm', ['ci', '--omit=dev', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: pkg, stdio: 'ignore' });
    const fromPackage = () =>
      edgebox(['install', boxFile, '--ssh-key', hosts.keyPath, '--k3s-binary', k3s, '--ignore-k3s-version', '-o', 'json'], {
        cli: join(pkg, 'bin', 'edgebox.js'),
      });

    const none = await fromPackage();
    expect(none.code, none.stderr).toBe(1);
    expect(errorsOf(none).map((e) => e.code)).toEqual(['install.no-agent-artifact']);

    // What `npm pack` puts in the package first (npm run artifacts: src/install/ship-artifacts.ts).
    const shipped = join(root, 'dist', 'agent-artifacts');
    execFileSync(process.execPath, [join(root, 'dist', 'install', 'ship-artifacts.js')], { stdio: 'ignore' });
    try {
      await cp(shipped, join(pkg, 'dist', 'agent-artifacts'), { recursive: true });
    } finally {
      // The checkout builds its own; shipped ones there would only go stale.
      await rm(shipped, { recursive: true, force: true });
    }
    const installed = await fromPackage();
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stderr).toContain(`using the shipped agent artefact ${join(pkg, 'dist', 'agent-artifacts', 'edgebox-agent-0.1.0-linux-amd64.tar.gz')}`);
    // The same bytes as the checkout built and installed: nothing to change.
    expect((JSON.parse(installed.stdout) as Report).unchanged).toBe(true);
  }, 300_000);

  it('upgrades K3s: refused while a voter is down, then a snapshot and the servers one at a time; a second run changes nothing', async () => {
    const next = await nextK3s();
    const upgrade = (...extra: string[]) =>
      edgebox(['upgrade', boxFile, '--ssh-key', hosts.keyPath, '--k3s-binary', next.path, '--ignore-k3s-version', '-o', 'json', ...extra]);
    const versions = async () => Promise.all([...SERVERS, AGENT].map(async (h) => (await hosts.exec(h, 'k3s --version')).stdout.split(' ')[2]));
    const podBefore = await probeRunning();
    const before = await versions();

    // srv-3 down (its agent first, or it would start K3s again): a restart of another server would lose the quorum.
    await hosts.exec('srv-3', 'systemctl stop edgebox-agent; systemctl stop k3s');
    const refused = await upgrade();
    expect(refused.code, refused.stderr).toBe(1);
    expect(errorsOf(refused).map((e) => e.code)).toEqual(['install.voter-down']);
    expect(await versions()).toEqual(before);
    await hosts.exec('srv-3', 'systemctl start k3s; systemctl start edgebox-agent');

    // Until srv-3 is a voter again, upgrade refuses (changing nothing); any other failure is one.
    let r = await upgrade();
    for (let i = 0; i < 24 && r.code === 1 && /install\.(voter-down|learner)/.test(r.stderr); i++) {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      r = await upgrade();
    }
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    console.log(`upgrade of ${SERVERS.length} servers and 1 agent: ${(r.ms / 1000).toFixed(1)} s`);
    for (const p of report.phases) for (const s of p.steps) console.log(`  ${p.name} | ${s.module} | ${s.step} | ${((s.ms ?? 0) / 1000).toFixed(1)} s`);
    expect(report.phases[0]!.steps.map((s) => s.step)).toEqual(['save an etcd snapshot (edgebox-before-upgrade), kept']);
    expect(await versions()).toEqual([...SERVERS, AGENT].map(() => next.version));
    // The agent module was drained (its pod evicted, through the Eviction API) and uncordoned: the
    // Deployment's new pod runs there again, on the new kubelet.
    expect(
      report.phases
        .flatMap((p) => p.steps)
        .filter((s) => s.module === AGENT)
        .map((s) => s.step.split(' (')[0]),
    ).toContain('cordon its node and evict its pods');
    const podAfter = await probeRunning();
    expect(podAfter).not.toBe(podBefore);
    expect(JSON.parse(await kubectl(`get node ${AGENT} -o json`)).spec.unschedulable ?? false).toBe(false);
    const snapshotOn = report.phases[0]!.steps[0]!.module;
    expect(await listed(snapshotOn, '/var/lib/rancher/k3s/server/db/snapshots')).toMatch(/edgebox-before-upgrade-/);
    await expectInstalled(hosts, SERVERS, [r], [AGENT]);
    const again = await upgrade();
    expect((JSON.parse(again.stdout) as Report).unchanged, again.stdout).toBe(true);
  }, 600_000);

  it('completes an install killed at a random step when run again, with no module half-joined', async () => {
    // The first box's servers off (as a power cut), to give this one the machine.
    await stopContainers(hosts, AGENT);
    for (const h of [...SERVERS, AGENT]) await hosts.kill(h);
    const file = join(dir, 'box-2.yaml');
    await writeFile(
      file,
      spec(
        'resumed',
        SECOND.map((name, i) => ({ name, address: address(7 + i) })),
      ),
    );
    const dry = JSON.parse((await install(file, '--dry-run')).stdout) as Report;
    const total = dry.phases.flatMap((p) => p.steps).length;
    const seed = Number(process.env.EDGEBOX_TEST_SEED ?? Date.now() % 10_000);
    const killAfter = 1 + (seed % (total - 1));
    console.log(`install killed at step ${killAfter} of ${total} (EDGEBOX_TEST_SEED=${seed} replays it)`);
    const cut = await edgebox(['install', file, '--ssh-key', hosts.keyPath, '--k3s-binary', k3s, '--ignore-k3s-version', '-o', 'json'], { killAfter });
    expect(cut.code).toBe(137);
    const resumed = await install(file);
    expect(resumed.code, resumed.stderr).toBe(0);
    await expectInstalled(hosts, SECOND, [cut, resumed]);
    const again = await install(file);
    expect((JSON.parse(again.stdout) as Report).unchanged, again.stdout).toBe(true);
  }, 900_000);

  it('uninstalls: one running server refused, then the whole box, keeping its etcd snapshots; a second run changes nothing', async () => {
    const file = join(dir, 'box-2.yaml');
    const uninstall = (...extra: string[]) => edgebox(['uninstall', file, '--ssh-key', hosts.keyPath, '-o', 'json', ...extra]);
    const one = await uninstall('--module', 'srv-4');
    expect(one.code, one.stderr).toBe(1);
    expect(errorsOf(one).map((e) => e.code)).toEqual(['install.uninstall-refused']);
    expect((await hosts.exec('srv-4', 'systemctl is-active k3s')).stdout.trim()).toBe('active');

    const saved = await hosts.exec('srv-4', 'k3s etcd-snapshot save --name before-uninstall');
    expect(saved.code, saved.stderr).toBe(0);
    const all = await uninstall();
    expect(all.code, all.stderr).toBe(0);
    for (const h of SECOND) {
      expect(await listed(h, '/usr/local/bin'), h).toBe('');
      expect(await listed(h, '/etc/edgebox'), h).toBe('');
      expect(await listed(h, '/etc/rancher/k3s'), h).toBe('config.yaml.d');
      expect((await hosts.exec(h, 'systemctl is-active k3s edgebox-agent')).stdout.split('\n').filter(Boolean)).toEqual(['inactive', 'inactive']);
      expect(await listed(h, '/var/lib/rancher/k3s'), h).toBe(h === 'srv-4' ? 'server' : '');
    }
    expect(await listed('srv-4', '/var/lib/rancher/k3s/server/db/snapshots')).toMatch(/^before-uninstall-srv-4-\d+/);
    const again = await uninstall();
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { unchanged: boolean }).unchanged).toBe(true);
  }, 300_000);
});

/** The errors document a failed run prints on stderr with -o json, after its progress lines. */
function errorsOf(r: Run): { code: string; hint?: string }[] {
  return (JSON.parse(r.stderr.slice(r.stderr.indexOf('{\n  "errors"'))) as { errors: { code: string; hint?: string }[] }).errors;
}

/** A Deployment of one pod on the agent module, from the image its containerd already has. */
const PROBE = `apiVersion: apps/v1
kind: Deployment
metadata: { name: probe, namespace: default }
spec:
  replicas: 1
  selector: { matchLabels: { app: probe } }
  template:
    metadata: { labels: { app: probe } }
    spec:
      nodeSelector: { edgebox.dev/module: ${AGENT} }
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: 5
      containers: [{ name: probe, image: ${PAUSE_IMAGE}, imagePullPolicy: Never }]`;

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { phase?: string; podIP?: string };
}

interface NodeJson {
  metadata: { labels: Record<string, string> };
  spec: { unschedulable?: boolean };
  status: { conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } };
}

interface Report {
  unchanged: boolean;
  phases: { name: string; ms?: number; steps: { module: string; step: string; ms?: number }[] }[];
}

/**
 * What an installed box has: K3s running on every server, three etcd voters and no learner (read
 * through srv's own etcd, over SSH as install does), the token and box secret 0600 and the same
 * on every module and never in install's output, every edgebox agent running and reaching the API.
 */
async function expectInstalled(hosts: SshHosts, servers: readonly string[], runs: readonly Run[], agents: readonly string[] = []): Promise<void> {
  const digests = new Set<string>();
  for (const h of [...servers, ...agents]) {
    const unit = servers.includes(h) ? 'k3s' : 'k3s-agent';
    expect((await hosts.exec(h, `systemctl is-active ${unit}`)).stdout.trim(), `${unit} on ${h}`).toBe('active');
    for (const path of ['/etc/rancher/k3s/edgebox-token', '/etc/edgebox/box-secret', '/etc/edgebox/agent-kubeconfig.yaml'])
      expect((await hosts.exec(h, `stat -c %a ${path}`)).stdout.trim(), `${path} on ${h}`).toBe('600');
    const token = (await hosts.exec(h, 'cat /etc/rancher/k3s/edgebox-token')).stdout.trim();
    const secret = (await hosts.exec(h, 'cat /etc/edgebox/box-secret')).stdout.trim();
    for (const r of runs) {
      expect(r.stdout + r.stderr).not.toContain(token);
      expect(r.stdout + r.stderr).not.toContain(secret);
    }
    digests.add(sha(token + secret));
  }
  expect(digests.size, 'one token and one box secret for the box').toBe(1);

  const members = await etcdMembers(hosts, servers[0]!);
  expect(members.map((m) => m.name.replace(/-[0-9a-f]{8}$/, '')).sort()).toEqual([...servers].sort());
  expect(members.filter((m) => m.learner)).toEqual([]);

  for (const h of [...servers, ...agents]) {
    await eventually(
      async () => {
        expect((await hosts.exec(h, 'systemctl is-active edgebox-agent')).stdout.trim()).toBe('active');
        const health = await hosts.exec(h, `${process.execPath} -e "fetch('http://127.0.0.1:7947/healthz').then((r) => r.text()).then(console.log)"`);
        expect(JSON.parse(health.stdout || '{}')).toMatchObject({ module: h, apiReachable: true });
      },
      { timeoutMs: 60_000, message: `the edgebox agent on ${h} runs and reaches the API` },
    );
  }
}

async function etcdMembers(hosts: SshHosts, host: string) {
  const s = await connect({ module: host, address: hosts.hosts.find((x) => x.name === host)!.address, user: 'root', keyPath: hosts.keyPath });
  try {
    const [ca, cert, key] = await Promise.all(
      ['server-ca.crt', 'client.crt', 'client.key'].map((f) => s.readFile(`/var/lib/rancher/k3s/server/tls/etcd/${f}`)),
    );
    const port = await s.forward(2382);
    return await etcdGateway({ endpoint: `https://127.0.0.1:${port}`, tls: () => Promise.resolve({ ca: ca!, cert: cert!, key: key! }) }).memberList();
  } finally {
    s.close();
  }
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * The "next release" the upgrade test installs: the same K3s source linked again with another
 * commit stamp (so another version and other bytes), cached beside the K3s of `local setup`.
 * About 20 s with Go's build cache warm from that build.
 */
async function nextK3s(): Promise<{ path: string; version: string }> {
  const cache = cacheRoot();
  const srcRoot = join(cache, 'k3s-src');
  for (const d of await readdir(srcRoot)) {
    const tree = (await readdir(join(srcRoot, d))).find((x) => x.startsWith('k3s-'));
    if (!tree) continue;
    const dir = join(srcRoot, d, tree);
    const kubernetes = vendoredKubernetes(await readFile(join(dir, 'go.mod'), 'utf8'))!;
    const source = { dir, commit: 'feedbeef', kubernetes };
    const version = k3sVersion(source);
    const path = join(cache, `k3s-next-${version}`, 'k3s');
    if (!(await stat(path).catch(() => undefined))) {
      await mkdir(join(cache, `k3s-next-${version}`), { recursive: true });
      const go = execFileSync('go', ['env', 'GOVERSION'], { cwd: dir, encoding: 'utf8' }).trim();
      const cmd = k3sBuildCommand({ source, goVersion: go, out: `${path}.partial` });
      execFileSync('go', cmd.args, { cwd: cmd.cwd, env: { ...process.env, ...cmd.env }, stdio: 'ignore' });
      await rename(`${path}.partial`, path);
    }
    return { path, version };
  }
  throw new Error(`no K3s source tree under ${srcRoot}: run edgebox local setup --engine k3s --k3s-source ...`);
}
