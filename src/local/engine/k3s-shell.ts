import { spawn } from 'node:child_process';
import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failure, inputError } from '../../diagnostics/diagnostic.js';
import { readState } from '../box-state.js';
import { moduleDir } from '../server-layout.js';
import { edgeboxCli } from '../self-healing.js';
import { k3sPaths } from './k3s-engine.js';

/**
 * `edgebox local exec <module> -- <command>` on a K3s-engine box: a command run as on the module
 * itself, so the runbooks (docs/runbooks) can be followed here word for word. It runs in the
 * module's network namespace, in a mount namespace of its own where /etc is the module's /etc
 * layer, /var/lib/rancher/k3s its data dir and /run/edgebox its /run/edgebox, with what the box
 * plays on its PATH: `systemctl`, `systemd-run` and `k3s` go to the module's host
 * (k3s-host.ts, through `edgebox local host-command`), `kubectl` is K3s's own, on this machine's
 * network with the box's kubeconfig. Everything else (sh, curl, test, rm, cp, install) is this
 * machine's. Not played: anything of systemd beyond the two K3s units.
 */

/** Over /var/lib a tmpfs, so the module's data dir gets its real path without a directory made on this machine. */
const SCRIPT = [
  'set -e',
  'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc',
  'mount -t tmpfs tmpfs /var/lib',
  'mkdir -p /var/lib/rancher/k3s /run/edgebox',
  'mount --bind "$3" /var/lib/rancher/k3s',
  'mount --bind "$4" /run/edgebox',
  'export PATH="$5:$PATH"',
  'shift 5',
  'set +e',
  'exec "$@"',
].join('\n');

export function execArgs(
  o: { netns: string; etcUpper: string; etcWork: string; dataDir: string; run: string; shims: string },
  argv: readonly string[],
): string[] {
  return ['netns', 'exec', o.netns, 'sh', '-c', SCRIPT, 'edgebox-module', o.etcUpper, o.etcWork, o.dataDir, o.run, o.shims, ...argv];
}

/** The PATH shims: each a two-line script naming the box, the module and this process (removed after). */
async function writeShims(dir: string, module: string, k3sBinary: string): Promise<string> {
  const shims = join(moduleDir(dir, module), 'k3s', `shell-bin-${process.pid}`);
  const kubectlDir = join(dir, 'k3s-kubectl');
  await mkdir(shims, { recursive: true });
  await mkdir(kubectlDir, { recursive: true });
  // K3s's multi-call binary answers to its name: `kubectl` (`k3s kubectl` is not in this build).
  await symlink(k3sBinary, join(kubectlDir, 'kubectl')).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  const cli = await edgeboxCli();
  // Back in this process's network (the box's API proxy and bridge) and mounts: it waits for the
  // shell, so its namespaces outlive every command the shell runs.
  const back = `nsenter --net=/proc/${process.pid}/ns/net --mount=/proc/${process.pid}/ns/mnt --`;
  const host = `exec ${back} ${q(cli.bin)} ${q(cli.script)} local host-command --dir ${q(dir)} ${q(module)} --`;
  const shim = async (name: string, body: string) => {
    const file = join(shims, name);
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    await chmod(file, 0o755);
  };
  for (const name of ['systemctl', 'systemd-run', 'k3s']) await shim(name, `${host} ${name} "$@"`);
  await shim('kubectl', `KUBECONFIG=${q(join(dir, 'kubeconfig'))} exec ${back} ${q(join(kubectlDir, 'kubectl'))} "$@"`);
  return shims;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs `argv` on the module, its output on this process's; resolves with its exit code. */
export async function execOnModule(
  dir: string,
  module: string,
  argv: readonly string[],
  stdio: 'inherit' | 'pipe' = 'inherit',
): Promise<{ code: number; stdout: string; stderr: string }> {
  const state = await readState(dir);
  if (!state?.k3s)
    throw failure(
      'local.exec-needs-k3s',
      `the box in ${dir} runs no K3s engine: its modules have no host to run commands on`,
      'start it with `edgebox local up <spec> --engine k3s`',
    );
  const member = state.k3s.network.members[module];
  if (!member) {
    throw inputError(
      'local.exec-unknown-module',
      `module '${module}' is not a server-capable module of box '${state.box}'`,
      `pass one of: ${Object.keys(state.k3s.network.members).join(', ')}`,
    );
  }
  if (argv.length === 0)
    throw inputError('local.exec-no-command', 'no command given', 'put the command after `--`, e.g. `edgebox local exec m1 -- systemctl show k3s`');
  const p = k3sPaths(dir, module);
  if (p.dataDir.startsWith('/var/lib/')) {
    throw failure(
      'local.exec-box-under-var-lib',
      `the box directory ${dir} is under /var/lib, which the module's shell covers`,
      'run the box elsewhere (`local up --dir`)',
    );
  }
  const etcWork = join(moduleDir(dir, module), 'k3s', 'etc-work-shell');
  await mkdir(etcWork, { recursive: true });
  await mkdir(p.run, { recursive: true, mode: 0o700 });
  await mkdir(p.dataDir, { recursive: true });
  const shims = await writeShims(dir, module, state.k3s.binary);
  const args = execArgs({ netns: member.netns, etcUpper: p.etcUpper, etcWork, dataDir: p.dataDir, run: p.run, shims }, argv);
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('ip', args, { stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  }).finally(() => rm(shims, { recursive: true, force: true }));
}
