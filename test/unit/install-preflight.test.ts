import { describe, expect, it } from 'vitest';
import { parseFacts, type ModuleFacts } from '../../src/install/facts.js';
import { preflight, type PreflightContext, type Reach } from '../../src/install/preflight.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { labBox } from './render-fixtures.js';

const GiB = 1024 ** 3;
const ctx: PreflightContext = {
  locate: (path) => ({ file: 'box.yaml', line: 10 + Number(path[2] ?? 0), col: 7 }),
  user: 'root',
  keyPath: '/home/me/.ssh/id_ed25519',
  k3s: { arm64: { version: 'v1.32.5+k3s1' } },
  ignoreK3sVersion: false,
};

function good(o: Partial<ModuleFacts> = {}): ModuleFacts {
  const f = parseFacts(
    [
      'machine=aarch64',
      'os=Debian',
      'glibc=2.36',
      `memtotal_kib=${(16 * GiB) / 1024}`,
      `disk_free_kib=${(50 * GiB) / 1024}`,
      'clock_ms=1000',
      'systemd=yes',
      'cgroup=cpu memory pids',
    ].join('\n'),
    1000,
    1000,
  );
  return { ...f, ...o };
}

function run(box: BoxSpec, change: Record<string, Reach>, c: Partial<PreflightContext> = {}) {
  const reach = new Map<string, Reach>(box.spec.modules.map((m) => [m.name, change[m.name] ?? { ok: true, facts: good() }]));
  return preflight(box, reach, { ...ctx, ...c });
}

describe('install preflight', () => {
  it('passes a box whose modules are what the spec says', () => {
    expect(run(labBox(), {}).filter((d) => d.severity === 'error')).toEqual([]);
  });

  it.each<[string, Reach, string, RegExp]>([
    [
      'wrong key',
      { ok: false, failure: { kind: 'auth', message: 'root@10.0.0.2:22 refused the key k' } },
      'install.ssh-auth',
      /ssh-copy-id -i \/home\/me\/.ssh\/id_ed25519.pub root@10.0.0.2/,
    ],
    [
      'a login without passwordless sudo',
      {
        ok: false,
        failure: { kind: 'sudo', message: 'edge@10.0.0.2 cannot run commands as root through sudo without a password: sudo: a password is required' },
      },
      'install.ssh-sudo',
      /NOPASSWD: ALL' > \/etc\/sudoers\.d\/edgebox/,
    ],
    [
      'unreachable',
      { ok: false, failure: { kind: 'unreachable', message: 'cannot reach root@10.0.0.2:22: EHOSTUNREACH' } },
      'install.unreachable',
      /powered on/,
    ],
    ['wrong arch', { ok: true, facts: good({ machine: 'x86_64' }) }, 'install.arch-mismatch', /hardware id/],
    ['too little memory', { ok: true, facts: good({ memTotalBytes: 1 * GiB }) }, 'install.memory', /agent-only/],
    ['another variant', { ok: true, facts: good({ memTotalBytes: 3.7 * GiB }) }, 'install.memory-mismatch', /variant/],
    ['a port taken', { ok: true, facts: good({ listening: [22, 6443] }) }, 'install.port-taken', /sport = :6443/],
    ['clock off', { ok: true, facts: good({ clockOffsetMs: -45_000 }) }, 'install.clock', /time sync/],
    ['full disk', { ok: true, facts: good({ diskFreeBytes: 0.5 * GiB }) }, 'install.disk', /free space/],
    ['no memory cgroup', { ok: true, facts: good({ cgroupControllers: ['cpu'] }) }, 'install.cgroups', /cgroup_memory=1/],
    ['no systemd', { ok: true, facts: good({ systemd: false }) }, 'install.no-systemd', /systemd/],
    ['old L4T', { ok: true, facts: good({ glibc: '2.16' }) }, 'install.agent-runtime', /./],
  ])('refuses %s with a located error naming the module and the fix', (_, reach, code, hint) => {
    const ds = run(labBox(), { s2: reach }).filter((d) => d.severity === 'error');
    expect(ds.map((d) => d.code)).toEqual([code]);
    const d = ds[0]!;
    expect(d.message).toMatch(/^module s2 \(10\.0\.0\.2\): /);
    expect(d.hint).toMatch(hint);
    // s2 is spec.modules[2] in labBox.
    expect(d.path).toMatch(/^spec\.modules\[2\]/);
    expect(d.location).toEqual({ file: 'box.yaml', line: 12, col: 7 });
  });

  it('does not count the ports of its own K3s on a re-run', () => {
    const facts = good({ listening: [6443, 2379, 2380, 10250, 7947, 7949] });
    facts.units = { k3s: { loaded: true, active: true, enabled: true }, 'edgebox-agent': { loaded: true, active: true, enabled: true } };
    expect(run(labBox(), { s2: { ok: true, facts } }).filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('refuses a K3s binary of another version than the spec pins, unless told to', () => {
    const c = { k3s: { arm64: { version: 'v1.31.1+k3s-c0d661b3' } } };
    expect(run(labBox(), {}, c).filter((d) => d.code === 'install.k3s-version')).toHaveLength(5);
    expect(run(labBox(), {}, { ...c, ignoreK3sVersion: true }).filter((d) => d.severity === 'error')).toEqual([]);
    expect(run(labBox(), {}, { k3s: {} }).filter((d) => d.code === 'install.no-k3s-binary')).toHaveLength(5);
  });

  it('asks an agent-only module for less memory than one that may serve', () => {
    const small = { ok: true as const, facts: good({ memTotalBytes: 1 * GiB }) };
    // a1 is agent-only (an rpi-cm4-2gb): 1 GiB is below the catalog's 2 GB, but above an agent's minimum.
    const ds = run(labBox(), { a1: small }).filter((d) => d.severity === 'error');
    expect(ds.map((d) => d.code)).toEqual(['install.memory-mismatch']);
  });
});
