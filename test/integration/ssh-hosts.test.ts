import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile, readlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { machine } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './harness.js';
import { createSshHosts, SESSION_PATH, type SshHosts } from './ssh-hosts.js';

/**
 * The SSH test hosts (ssh-hosts.ts) that `edgebox install` tests run against: real sshd, each
 * host's namespaces and directories its own, the systemctl stand-in really running units, a
 * power cut and a boot. Needs root.
 */

const SUBNET = '10.213.251';
const A = { name: 'srv-1', address: `${SUBNET}.11`, unameMachine: 'aarch64', memTotalKiB: 3_981_312 };
const B = { name: 'srv-2', address: `${SUBNET}.12` };
const PORT = 7000;

let hosts: SshHosts;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `ssh root@<address> <command>` with the options an installer uses, from this machine. */
function ssh(address: string, command: string, key = hosts.keyPath): Promise<Result> {
  const args = ['-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes'];
  return new Promise((resolve) => {
    execFile('ssh', [...args, '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR', `root@${address}`, command], (e, stdout, stderr) =>
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** What the unit's listener answers on the host's address ('' when refused). */
function greeting(address: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port: PORT, timeout: 2000 });
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('timeout', () => s.destroy());
    s.on('error', () => undefined);
    s.on('close', () => resolve(got));
  });
}

/** Running, not a zombie that whoever inherited it has yet to reap. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !'ZX'.includes(stat[stat.lastIndexOf(')') + 2]!);
  } catch {
    return false;
  }
}

const ECHO_UNIT = `[Unit]
Description=a tiny TCP listener on the host's address

[Service]
Type=notify
Environment="GREETING=hello from" NAME=nobody ADDRESS=${A.address}
EnvironmentFile=-/etc/edgebox/%N.env
EnvironmentFile=-/etc/edgebox/missing.env
ExecStartPre=-/bin/false
ExecStartPre=/bin/sh -c 'echo pre ran > /run/%N.pre'
ExecStart=/usr/bin/node -e 'require("net").createServer((s) => s.end(process.env.GREETING + " " + process.env.NAME)).listen(${PORT}, process.argv[1])' \\
    \${ADDRESS}
Restart=always
RestartSec=1s

[Install]
WantedBy=multi-user.target
`;

const GATED_UNIT = `[Unit]
ConditionPathExists=/etc/edgebox/go

[Service]
ExecStart=/bin/sleep 1000
`;

describe('SSH hosts', () => {
  beforeAll(async () => {
    const start = Date.now();
    hosts = await createSshHosts({ prefix: 'ebssh', subnet: SUBNET, hosts: [A, B] });
    process.stderr.write(`ssh-hosts: 2 hosts up in ${Date.now() - start} ms\n`);
  }, 60_000);
  afterAll(() => hosts?.down(), 60_000);

  it('answers ssh as root with the harness key: the pretend hardware, nothing installed, the session PATH', async () => {
    const a = await ssh(A.address, 'uname -m; cat /proc/meminfo | head -1; ls /usr/local/bin');
    expect(a.stderr).toBe('');
    expect(a.stdout.split('\n')).toEqual(['aarch64', expect.stringMatching(/^MemTotal: +3981312 kB$/), '']);
    const b = await ssh(B.address, 'uname -m; cat /proc/meminfo | head -1; ls /usr/local/bin');
    expect(b.stdout.split('\n')).toEqual([machine(), readFileSync('/proc/meminfo', 'utf8').split('\n')[0], '']);

    const env = await ssh(
      A.address,
      'echo "$PATH"; hostname; id -un; ls -A /etc/rancher /var/lib/rancher /etc/systemd/system /etc/edgebox /var/lib/edgebox /opt',
    );
    expect(env.stdout.split('\n').slice(0, 3)).toEqual([SESSION_PATH, 'srv-1', 'root']);
    // Each directory listed, and nothing in any.
    expect(env.stdout.split('\n').slice(3).filter(Boolean).sort()).toEqual([
      '/etc/edgebox:',
      '/etc/rancher:',
      '/etc/systemd/system:',
      '/opt:',
      '/var/lib/edgebox:',
      '/var/lib/rancher:',
    ]);
    expect(await hosts.exec(A.name, 'uname -m; echo "$PATH"')).toEqual({ code: 0, stdout: `aarch64\n${SESSION_PATH}\n`, stderr: '' });
  });

  it("keeps each host's directories its own", async () => {
    expect((await ssh(A.address, 'mkdir -p /etc/rancher/k3s && echo on-a > /etc/rancher/k3s/marker && echo x > /etc/hosts.extra')).code).toBe(0);
    expect((await hosts.exec(A.name, 'cat /etc/rancher/k3s/marker')).stdout).toBe('on-a\n');
    expect(await ssh(B.address, 'test -e /etc/rancher/k3s/marker || test -e /etc/hosts.extra; echo $?')).toMatchObject({ stdout: '1\n' });
    expect(existsSync('/etc/rancher/k3s/marker')).toBe(false);
    expect(existsSync('/etc/hosts.extra')).toBe(false);
    const a = hosts.hosts.find((h) => h.name === A.name)!;
    expect(await readFile(join(a.root, 'etc/rancher/k3s/marker'), 'utf8')).toBe('on-a\n');
  });

  it('refuses a key it was not given', async () => {
    const r = await ssh(A.address, 'true', hosts.otherKeyPath);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('Permission denied (publickey)');
  });

  it('takes files over SFTP', async () => {
    const local = join(hosts.hosts[0]!.root, '..', 'upload.sh');
    await writeFile(local, '#!/bin/sh\necho uploaded\n', { mode: 0o755 });
    const sftp = execFileSync(
      'sftp',
      ['-i', hosts.keyPath, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-b', '-', `root@${B.address}`],
      { input: `put -p ${local} /usr/local/bin/edgebox-probe\n`, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] },
    );
    expect(sftp).toContain('put -p');
    expect(await ssh(B.address, 'edgebox-probe')).toEqual({ code: 0, stdout: 'uploaded\n', stderr: '' });
  });

  it('runs a unit written over ssh with the systemctl stand-in, in the host', async () => {
    await writeFile(join(hosts.hosts[0]!.root, 'tmp', 'echo.service'), ECHO_UNIT);
    expect((await ssh(A.address, 'cp /tmp/echo.service /etc/systemd/system/ && echo NAME=srv-1 > /etc/edgebox/echo.env')).code).toBe(0);
    expect(await ssh(A.address, 'systemctl daemon-reload && systemctl enable --now echo')).toMatchObject({ code: 0 });
    expect(await ssh(A.address, 'systemctl is-active echo; systemctl is-enabled echo')).toEqual({ code: 0, stdout: 'active\nenabled\n', stderr: '' });
    await eventually(async () => expect(await greeting(A.address)).toBe('hello from srv-1'), { timeoutMs: 10_000, message: 'the unit listens' });
    expect((await hosts.exec(A.name, 'cat /run/echo.pre')).stdout).toBe('pre ran\n');

    // Its main process lives in the host's network namespace.
    const show = await ssh(A.address, 'systemctl show -p ActiveState,SubState,MainPID,UnitFileState echo');
    const props = Object.fromEntries(
      show.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('=') as [string, string]),
    );
    expect(props).toMatchObject({ ActiveState: 'active', SubState: 'running', UnitFileState: 'enabled' });
    const mainPid = Number(props.MainPID);
    expect(await readlink(`/proc/${mainPid}/ns/net`)).toBe(`net:[${statSync(`/run/netns/ebssh-${A.name}`).ino}]`);

    // Restart=always: a crash brings a new process.
    expect((await ssh(A.address, `kill -9 ${mainPid}`)).code).toBe(0);
    await eventually(
      async () => {
        const pid = (await ssh(A.address, 'systemctl show -p MainPID --value echo')).stdout.trim();
        expect(pid).not.toBe(String(mainPid));
        expect(pid).not.toBe('0');
        expect(await greeting(A.address)).toBe('hello from srv-1');
      },
      { timeoutMs: 10_000, message: 'the unit restarted' },
    );
    expect(await readFile(join(hosts.hosts[0]!.root, 'var/log/echo.log'), 'utf8')).toContain('restarting in 1 s');

    expect(await ssh(A.address, 'systemctl stop echo; systemctl is-active echo')).toEqual({ code: 3, stdout: 'inactive\n', stderr: '' });
    expect(await greeting(A.address)).toBe('');
    expect(running(mainPid)).toBe(false);
    expect(await ssh(A.address, 'systemctl start echo && systemctl is-active --quiet echo')).toMatchObject({ code: 0 });
  });

  it('skips a unit whose ConditionPathExists is not met, and says what systemctl says of unknown units', async () => {
    await writeFile(join(hosts.hosts[0]!.root, 'etc/systemd/system/gated.service'), GATED_UNIT);
    expect(await ssh(A.address, 'systemctl start gated; echo $?; systemctl is-active gated; systemctl show -p ConditionResult --value gated')).toMatchObject({
      stdout: '0\ninactive\nno\n',
    });
    expect(await ssh(A.address, 'touch /etc/edgebox/go && systemctl start gated && systemctl is-active gated && systemctl is-enabled gated')).toEqual({
      code: 0,
      stdout: 'active\nstatic\n',
      stderr: '',
    });
    expect(await ssh(A.address, 'systemctl start nope')).toEqual({
      code: 5,
      stdout: '',
      stderr: 'Failed to start nope.service: Unit nope.service not found.\n',
    });
    expect(await ssh(A.address, 'systemctl is-active nope')).toMatchObject({ code: 3, stdout: 'inactive\n' });
  });

  it('loses every process on a power cut and, booted again, starts the enabled units only', async () => {
    const before = hosts.hosts[0]!.pid;
    await hosts.kill(A.name);
    expect(execFileSync('ip', ['netns', 'pids', `ebssh-${A.name}`], { encoding: 'utf8' })).toBe('');
    expect(running(before)).toBe(false);
    expect((await ssh(A.address, 'true')).code).toBe(255);
    expect(await greeting(A.address)).toBe('');
    await expect(hosts.exec(A.name, 'true')).rejects.toThrow(/down/);
    // B runs on.
    expect((await ssh(B.address, 'true')).code).toBe(0);

    await hosts.revive(A.name);
    expect(await ssh(A.address, 'cat /etc/rancher/k3s/marker; ls /run/systemd-standin')).toEqual({ code: 0, stdout: 'on-a\necho\n', stderr: '' });
    expect(await ssh(A.address, 'systemctl is-active echo gated')).toMatchObject({ code: 3, stdout: 'active\ninactive\n' });
    await eventually(async () => expect(await greeting(A.address)).toBe('hello from srv-1'), { timeoutMs: 10_000, message: 'the enabled unit is back' });
  });

  it('leaves no namespace, link, process or directory behind', async () => {
    const pids = [...hosts.hosts.map((h) => h.pid), Number((await hosts.exec(A.name, 'systemctl show -p MainPID --value echo')).stdout)];
    const roots = hosts.hosts.map((h) => h.root);
    await hosts.down();
    await hosts.down();
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toMatch(/ebssh-/);
    expect(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })).not.toMatch(/ebssh-/);
    expect(pids.filter((p) => p > 0 && running(p))).toEqual([]);
    expect(roots.filter((r) => existsSync(r))).toEqual([]);
  });
});
