import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformInputs } from '../../src/image/inputs.js';
import { PLATFORMS, selectPackageFiles } from '../../src/image/plan.js';
import { buildAgentArtifact, type AgentArtifact } from '../../src/install/agent-artifact.js';
import { agentArtifactName } from '../../src/install/agent-runtime.js';
import { AGENT_MIN_GLIBC, agentRuntimeProblem, agentVersionDir } from '../../src/install/agent-runtime.js';
import { cacheRoot } from '../../src/local/cache.js';
import { EDGEBOX_VERSION } from '../../src/render/controller.js';
import { ROOT } from './apply-helpers.js';

/**
 * The agent's artefact for `edgebox install` (src/install/agent-artifact.ts), built for both
 * architectures into the real cache and unpacked with the system's tar as a module would: the
 * amd64 CLI runs where it was unpacked and, through its wrapper at /usr/local/bin, on Ubuntu
 * 18.04's glibc 2.27 (L4T r32's); the arm64 one runs under qemu-user. A second build reuses the
 * file; compressing again gives the same bytes.
 */
const run = promisify(execFile);
const ARCHES = ['amd64', 'arm64'] as const;
type Arch = (typeof ARCHES)[number];
const VERSION = EDGEBOX_VERSION;
const VDIR = agentVersionDir(VERSION);
const CACHE = cacheRoot();
const QEMU = '/usr/bin/qemu-aarch64';
const CHROOT = '/usr/sbin/chroot';
/** Nothing of this host's environment: a module's shell has little more. */
const bare = { env: { PATH: '/usr/local/bin:/usr/bin:/bin' }, maxBuffer: 16 * 2 ** 20 };

let scratch: string;
const built = new Map<Arch, { artifact: AgentArtifact; unpacked: string; seconds: number }>();
const get = (arch: Arch): { artifact: AgentArtifact; unpacked: string; seconds: number } => built.get(arch)!;

async function build(arch: Arch, progress: string[] = []): Promise<{ artifact: AgentArtifact; seconds: number }> {
  const started = Date.now();
  const artifact = await buildAgentArtifact({ cache: CACHE, arch, version: VERSION, root: ROOT, progress: (m) => progress.push(m) });
  return { artifact, seconds: (Date.now() - started) / 1000 };
}
const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

beforeAll(async () => {
  // The app is bundled from dist/: build it only when no one has (another build may be running).
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) await run('npm', ['run', 'build'], { cwd: ROOT });
  scratch = await mkdtemp(join(tmpdir(), 'edgebox-agent-artifact-'));
  for (const arch of ARCHES) {
    // Without its record, a cached artefact is compressed again: the first build here is a real one.
    await rm(join(CACHE, 'agent-artifacts', `${agentArtifactName(VERSION, arch)}.json`), { force: true });
    const { artifact, seconds } = await build(arch);
    const unpacked = join(scratch, arch);
    await mkdir(unpacked);
    await run('tar', ['-xzf', artifact.path, '-C', unpacked]);
    built.set(arch, { artifact, unpacked, seconds });
    console.log(
      `agent artefact linux/${arch}: ${mb(artifact.bytes)} compressed, ${mb(artifact.unpackedBytes)} unpacked, built in ${seconds.toFixed(1)} s (${artifact.path})`,
    );
  }
}, 900_000);
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the agent artefact', () => {
  it('is one gzipped tar per architecture, with a sha256 file sha256sum -c accepts', async () => {
    for (const arch of ARCHES) {
      const { artifact } = get(arch);
      expect(artifact.path).toBe(join(CACHE, 'agent-artifacts', `edgebox-agent-${VERSION}-linux-${arch}.tar.gz`));
      const bytes = await readFile(artifact.path);
      expect(bytes.length).toBe(artifact.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(artifact.sha256);
      const { stdout } = await run('sha256sum', ['-c', `${artifact.path}.sha256`], { cwd: dirname(artifact.path) });
      expect(stdout.trim()).toBe(`${agentArtifactName(VERSION, arch)}: OK`);
    }
  });

  it('unpacks at / into the version directory and the wrapper, last; root-owned, dated 1970, no shared directory', async () => {
    const { stdout } = await run('tar', ['-tvzf', get('amd64').artifact.path, '--numeric-owner', '--utc'], { maxBuffer: 16 * 2 ** 20 });
    const lines = stdout.trim().split('\n');
    const names = lines.map((l) => l.split(/\s+/).at(-1)!);
    const vdir = VDIR.slice(1);
    expect(names[0]).toBe(vdir);
    expect(names.at(-1)).toBe('usr/local/bin/edgebox');
    expect(names.filter((n) => n !== vdir && !n.startsWith(`${vdir}/`))).toEqual(['usr/local/bin/edgebox']);
    expect(names).toContain(`${VDIR.slice(1)}/bin/node`);
    expect(names).toContain(`${VDIR.slice(1)}/app/dist/bundle/main.js`);
    expect(names).toContain(`${VDIR.slice(1)}/app/package.json`);
    expect(lines.filter((l) => !/^\S+ 0\/0 +\d+ 1970-01-01 00:00 /.test(l))).toEqual([]);
    expect(lines.find((l) => l.endsWith('/bin/node'))).toMatch(/^-rwxr-xr-x /);
    expect(lines.find((l) => l.endsWith('usr/local/bin/edgebox'))).toMatch(/^-rwxr-xr-x /);
  });

  it(`has a Node binary that asks for no glibc newer than AGENT_MIN_GLIBC (${AGENT_MIN_GLIBC.join('.')}) on either architecture`, async (ctx) => {
    if (!existsSync('/usr/bin/readelf')) ctx.skip('readelf (binutils) is not installed');
    for (const arch of ARCHES) {
      const { stdout } = await run('readelf', ['-V', '--wide', join(get(arch).unpacked, VDIR, 'bin/node')], { maxBuffer: 16 * 2 ** 20 });
      const versions = [...stdout.matchAll(/Name: GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
      expect(versions.length).toBeGreaterThan(0);
      const newest = versions.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a));
      expect({ arch, newest }).toEqual({ arch, newest: AGENT_MIN_GLIBC });
    }
  });

  it('amd64: the CLI runs from where it was unpacked (--version, agent --help), with a bare environment', async () => {
    const { unpacked } = get('amd64');
    const cli = [join(unpacked, VDIR, 'app/dist/bundle/main.js')];
    const node = join(unpacked, VDIR, 'bin/node');
    expect((await run(node, [...cli, '--version'], bare)).stdout.trim()).toBe(VERSION);
    const { stdout } = await run(node, [...cli, 'agent', '--help'], bare);
    expect(stdout).toContain('Usage: edgebox agent');
    expect(stdout).toMatch(/run \[options\] +heartbeat the box's other modules/);
  });

  it("amd64 on Ubuntu 18.04's libraries (glibc 2.27, as on L4T r32): the wrapper at /usr/local/bin runs it", async (ctx) => {
    if (process.getuid?.() !== 0 || !existsSync(CHROOT)) ctx.skip('needs root and chroot');
    const rootfs = join(scratch, 'bionic');
    const problem = await bionicRoot(rootfs);
    if (problem) ctx.skip(problem);
    await run('tar', ['-xzf', get('amd64').artifact.path, '-C', rootfs]);
    const libc = (await run(CHROOT, [rootfs, '/lib/x86_64-linux-gnu/libc.so.6'], bare)).stdout;
    expect(libc).toMatch(/^GNU C Library \(Ubuntu GLIBC 2\.27-3ubuntu1\.6\)/);
    expect(agentRuntimeProblem('2.27', 'x86_64')).toBeUndefined();
    expect((await run(CHROOT, [rootfs, '/usr/local/bin/edgebox', '--version'], bare)).stdout.trim()).toBe(VERSION);
    expect((await run(CHROOT, [rootfs, '/usr/local/bin/edgebox', 'agent', '--help'], bare)).stdout).toContain('Usage: edgebox agent');
  });

  it("arm64 under qemu-user, on Debian bookworm's arm64 libraries (the controller image's)", async (ctx) => {
    if (!existsSync(QEMU)) ctx.skip(`${QEMU} is not installed (Debian: qemu-user)`);
    // `qemu-aarch64 -L /` needs this host's arm64 loader and libc (libc6:arm64), which a host
    // without multiarch lacks: the sysroot is the image's base packages instead.
    const sysroot = join(scratch, 'arm64-sysroot');
    const inputs = await platformInputs(
      CACHE,
      PLATFORMS.find((p) => p.architecture === 'arm64')!,
      { refresh: false, progress: () => {} },
    );
    for (const e of inputs.packages.flatMap((p) => selectPackageFiles(p.pkg.name, p.entries))) {
      const path = join(sysroot, e.path);
      await mkdir(dirname(path), { recursive: true });
      if (e.type === 'file') await writeFile(path, e.content, { mode: e.mode });
      else if (e.type === 'symlink') await symlink(e.target, path);
    }
    const { unpacked } = get('arm64');
    const cli = [join(unpacked, VDIR, 'bin/node'), join(unpacked, VDIR, 'app/dist/bundle/main.js')];
    expect((await run(QEMU, ['-L', sysroot, ...cli, '--version'], bare)).stdout.trim()).toBe(VERSION);
    expect((await run(QEMU, ['-L', sysroot, ...cli, 'agent', '--help'], bare)).stdout).toContain('Usage: edgebox agent');
  });

  it('a second build reuses the cached file: same sha256, no compression', async () => {
    for (const arch of ARCHES) {
      const progress: string[] = [];
      const { artifact, seconds } = await build(arch, progress);
      expect(artifact).toEqual(get(arch).artifact);
      expect(progress.at(-1)).toBe(`reusing ${artifact.path}`);
      expect(progress.filter((m) => m.startsWith('compressing'))).toEqual([]);
      console.log(`agent artefact linux/${arch}: second build ${seconds.toFixed(1)} s (first ${get(arch).seconds.toFixed(1)} s)`);
    }
  });

  it('is reproducible: compressing again gives the same bytes', async () => {
    const first = get('arm64').artifact;
    await rm(`${first.path}.json`);
    const progress: string[] = [];
    const { artifact } = await build('arm64', progress);
    expect(progress.some((m) => m.startsWith('compressing'))).toBe(true);
    expect(artifact).toEqual(first);
  });

  it('amd64: `agent run` starts from the artefact; its idle RSS is printed', async () => {
    const { unpacked } = get('amd64');
    const node = join(unpacked, VDIR, 'bin/node');
    const cli = join(unpacked, VDIR, 'app/dist/bundle/main.js');
    const secret = join(scratch, 'box.secret');
    await run(node, [cli, 'agent', 'secret', secret], bare);
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const addresses = { m1: '127.0.1.1', m2: '127.0.1.2', m3: '127.0.1.3' };
    const args = [
      ...['agent', 'run', '--spec', join(ROOT, 'test/fixtures/agents-3.yaml'), '--module', 'm1', '--secret-file', secret],
      ...['--port', String(port), '--http-port', '0', '--metrics-port', '0', '--address-map', JSON.stringify(addresses)],
      ...['--state-dir', join(scratch, 'agent-state')],
    ];
    const child = spawn(node, [cli, ...args], { ...bare, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      await new Promise<void>((ok, fail) => {
        let out = '';
        child.once('exit', (code) => fail(new Error(`agent exited ${code}: ${err}`)));
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('"agent started"')) ok();
        });
      });
      // Idle: heartbeats to peers that never answer, nothing else.
      await new Promise((r) => setTimeout(r, 10_000));
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
      console.log(`agent run (linux/amd64 artefact): idle RSS ${(rssKiB / 1024).toFixed(1)} MiB after 10 s`);
      expect(rssKiB).toBeGreaterThan(10 * 1024);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
    }
  });
});

/**
 * Ubuntu 18.04's glibc, libgcc, libstdc++ and dash (for the wrapper's /bin/sh), pinned by sha256
 * (bionic-updates no longer changes), cached under `<cache>/test-inputs`. Returns why not, when
 * archive.ubuntu.com cannot be reached.
 */
const BIONIC = [
  ['pool/main/g/glibc/libc6_2.27-3ubuntu1.6_amd64.deb', '5b813d4512491cd8fb30b2eb9192349ee75ffe3c9f21ae136cc7b2429f70c3b2'],
  ['pool/main/g/gcc-8/libgcc1_8.4.0-1ubuntu1~18.04_amd64.deb', '116dadf4ceaba7150eb46a6598dd3defa62b1b2a6578fb494f4c932878634994'],
  ['pool/main/g/gcc-8/libstdc++6_8.4.0-1ubuntu1~18.04_amd64.deb', '4dbd1ffa20011329608f584ff329a10507cfa78c3f76fa34e6f479f9680b64f4'],
  ['pool/main/d/dash/dash_0.5.8-2.10_amd64.deb', '51fe28b98b8e023325ae8868f29807cdb53f6f2eac943723b5e6bd47cde0cb2c'],
] as const;

async function bionicRoot(rootfs: string): Promise<string | undefined> {
  const dir = join(CACHE, 'test-inputs', 'ubuntu-bionic');
  await mkdir(dir, { recursive: true });
  for (const [file, sha256] of BIONIC) {
    const deb = join(dir, file.split('/').pop()!);
    const hex = async (): Promise<string> =>
      createHash('sha256')
        .update(await readFile(deb))
        .digest('hex');
    if (!existsSync(deb) || (await hex()) !== sha256) {
      let res: Response;
      try {
        res = await fetch(`http://archive.ubuntu.com/ubuntu/${file}`, { signal: AbortSignal.timeout(120_000) });
      } catch (e) {
        return `archive.ubuntu.com cannot be reached (${(e as Error).message}): no Ubuntu 18.04 libraries to run on`;
      }
      if (!res.ok) return `archive.ubuntu.com answered ${res.status} for ${file}`;
      await writeFile(deb, Buffer.from(await res.arrayBuffer()));
      expect(await hex()).toBe(sha256);
    }
    await mkdir(rootfs, { recursive: true });
    await run('dpkg-deb', ['-x', deb, rootfs]);
  }
  return undefined;
}
