import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageReport } from '../../src/image/build.js';
import { RUN_AS } from '../../src/image/plan.js';
import { binaryPath, toolchainPaths } from '../../src/local/cache.js';
import { freePorts } from '../../src/local/ports.js';
import { loadPackagingToolchain } from '../../src/local/toolchain.js';
import { EDGEBOX_VERSION } from '../../src/render/controller.js';
import { ROOT } from './apply-helpers.js';
import { AgentViews, allReachable, applyFixture, fixture, MODULES, SPEC } from './controller-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

/**
 * The controller's OCI image (`npm run image`, src/image), checked with tools that are not ours:
 * two builds give the same digest; the real `crane` pushes the layout to a registry it serves on
 * 127.0.0.1, reads back a two-platform index and validates every layer of both platforms; the
 * filesystems crane exports run: arm64's CLI under qemu-user, amd64's as the image's non-root user
 * in a chroot with only PATH set, the CLI and the controller leading a real control plane.
 */
const run = promisify(execFile);
let crane: string;
let dir: string;
let report: ImageReport;
let registry: ChildProcess | undefined;
let ref: string;

async function build(out: string, cwd: string): Promise<ImageReport> {
  const { stdout } = await run(process.execPath, [join(ROOT, 'dist/image/build.js'), '--out', out, '-o', 'json'], { cwd, maxBuffer: 16 * 2 ** 20 });
  return JSON.parse(stdout) as ImageReport;
}

const CHROOT = '/usr/sbin/chroot';
/** The image's entrypoint with these args, as its user, with nothing of this host's environment. */
const inImage = (rootfs: string, ...args: string[]): string[] => [
  '--userspec',
  `${RUN_AS.uid}:${RUN_AS.uid}`,
  rootfs,
  '/usr/local/bin/node',
  '/app/dist/bundle/main.js',
  ...args,
];
const bare = { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } };

beforeAll(async () => {
  crane = binaryPath(toolchainPaths(await loadPackagingToolchain()), 'crane');
  dir = await mkdtemp(join(tmpdir(), 'edgebox-image-'));
  report = await build(join(dir, 'a'), ROOT);
  const [port] = await freePorts(1);
  registry = spawn(crane, ['registry', 'serve', '--address', `127.0.0.1:${port}`], { stdio: 'ignore' });
  ref = `127.0.0.1:${port}/edgebox:${EDGEBOX_VERSION}`;
  await eventually(async () => expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200), { timeoutMs: 10_000, message: 'crane registry serves' });
  await run(crane, ['push', report.layout, ref]);
});
afterAll(async () => {
  registry?.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the controller image', () => {
  it('builds reproducibly: a second build, from another working directory, has the same digest', async () => {
    const again = await build(join(dir, 'b'), tmpdir());
    expect(again.digest).toBe(report.digest);
    // Buffer.equals: expect's deep equality walks 80 MB byte by byte.
    expect((await readFile(again.archive)).equals(await readFile(report.archive))).toBe(true);
  });

  it('crane reads back an index of linux/amd64 and linux/arm64 and validates every layer', async () => {
    const { stdout: digest } = await run(crane, ['digest', ref]);
    expect(digest.trim()).toBe(report.digest);
    const index = JSON.parse((await run(crane, ['manifest', ref])).stdout) as { manifests: { platform: { os: string; architecture: string } }[] };
    expect(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`)).toEqual(['linux/amd64', 'linux/arm64']);
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const { stdout } = await run(crane, ['validate', '--remote', ref, '--platform', platform]);
      expect(stdout).toContain('PASS');
      const config = JSON.parse((await run(crane, ['config', ref, '--platform', platform])).stdout) as {
        created?: string;
        config: { User: string; Entrypoint: string[] };
      };
      expect(config.created).toBeUndefined();
      expect(config.config.User).toBe(`${RUN_AS.uid}:${RUN_AS.uid}`);
    }
  });

  it('the arm64 image carries an aarch64 Node and loader, and runs the CLI under qemu-user', async () => {
    const rootfs = join(dir, 'arm64');
    await mkdir(rootfs);
    await run('sh', ['-c', `"$0" export --platform linux/arm64 "$1" - | tar -x -C "$2"`, crane, ref, rootfs]);
    for (const file of ['usr/local/bin/node', 'lib/aarch64-linux-gnu/ld-linux-aarch64.so.1', 'usr/lib/aarch64-linux-gnu/libstdc++.so.6.0.30']) {
      const elf = await readFile(join(rootfs, file));
      expect(elf.readUInt16LE(18), file).toBe(183);
    }
    // Debian's qemu-user (.ci/run installs it): the image's own loader and libraries (-L), emulated.
    const { stdout } = await run(
      'qemu-aarch64',
      ['-L', rootfs, join(rootfs, 'usr/local/bin/node'), join(rootfs, 'app/dist/bundle/main.js'), '--version'],
      bare,
    ).catch((e: NodeJS.ErrnoException) => {
      throw new Error(e.code === 'ENOENT' ? 'qemu-aarch64 is missing: apt-get install qemu-user' : e.message);
    });
    expect(stdout.trim()).toBe(EDGEBOX_VERSION);
  });

  describe('the amd64 image, run from the filesystem crane exports', () => {
    const rootfs = () => join(dir, 'amd64');
    let box: Box | undefined;
    let controller: ChildProcess | undefined;
    let views: AgentViews | undefined;

    beforeAll(async () => {
      await mkdir(rootfs());
      await run('sh', ['-c', `"$0" export --platform linux/amd64 "$1" - | tar -x -C "$2"`, crane, ref, rootfs()]);
    });
    afterAll(async () => {
      controller?.kill('SIGKILL');
      await views?.stop();
      await box?.stop();
    });

    it("runs the CLI as the image's non-root user, with only PATH in its environment", async () => {
      const { stdout, stderr } = await run(CHROOT, inImage(rootfs(), '--version'), bare);
      expect(stdout.trim()).toBe(EDGEBOX_VERSION);
      expect(stderr).toBe('');
      const { stdout: help } = await run(CHROOT, inImage(rootfs(), 'controller', '--help'), bare);
      expect(help).toContain('Usage: edgebox controller');
    });

    it('its controller leads a real control plane', async () => {
      box = await startBox(SPEC);
      await applyFixture(box, await fixture());
      views = new AgentViews(box.kc, (await fixture()).metadata.name);
      for (const m of MODULES) await views.set(m, allReachable(m));
      views.start();
      // The fixture's modules have the `local` power driver, which acts on a local box's processes
      // the image cannot see; a real box has BMC drivers or none.
      const spec = (await readFile(SPEC, 'utf8')).replace(/, power: \{ driver: local, slot: \d \}/g, '');
      await writeFile(join(rootfs(), 'tmp/box.yaml'), spec, { mode: 0o644 });
      await copyFile(box.kubeconfigPath, join(rootfs(), 'tmp/kubeconfig'));
      await chmod(join(rootfs(), 'tmp/kubeconfig'), 0o644);
      const [port] = await freePorts(1);
      const args = ['controller', '--spec', '/tmp/box.yaml', '--kubeconfig', '/tmp/kubeconfig', '--id', 'from-image', '--metrics-port', String(port)];
      controller = spawn(CHROOT, inImage(rootfs(), ...args), { ...bare, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      controller.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      controller.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      await eventually(
        async () => {
          const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          expect(/^edgebox_leader (\d)$/m.exec(text)?.[1]).toBe('1');
        },
        { timeoutMs: 60_000, message: 'the controller from the image leads' },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\nits output:\n${output.slice(-3000)}`);
      });
    });
  });
});
