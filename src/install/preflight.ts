import { AGENT_METRICS_PORT } from '../contract/metrics.js';
import { findHardware } from '../catalog/hardware.js';
import type { Diagnostic, SourceLocation } from '../diagnostics/diagnostic.js';
import { API_PORT, k3sRoles } from '../render/k3s-config.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import { agentRuntimeProblem } from './agent-runtime.js';
import { kubeArch, type ModuleFacts } from './facts.js';
import type { ConnectFailure } from './ssh.js';

/**
 * Preflight: every module checked before anything changes on any of them. Pure: the probe's facts
 * (or why the module could not be reached) in, located errors out, each naming the module and
 * the fix. One error anywhere and install changes nothing.
 */

export type Reach = { ok: true; facts: ModuleFacts } | { ok: false; failure: ConnectFailure };

export interface PreflightContext {
  locate(path: readonly PropertyKey[]): SourceLocation;
  user: string;
  keyPath: string;
  /** Architectures install has a K3s binary for, with the binary's version. */
  k3s: Partial<Record<'arm64' | 'amd64', { version: string }>>;
  /** Install a K3s whose version is not spec.k3s.version (a build of one's own). */
  ignoreK3sVersion: boolean;
}

const GiB = 1024 ** 3;
/** K3s's documented minimums (docs.k3s.io, requirements): a server 2 GB, an agent 512 MB. Below, etcd or the kubelet are OOM-killed. */
export const MIN_MEMORY = { server: 1.8 * GiB, agent: 0.45 * GiB } as const;
/** K3s, its images' unpacked layers, the agent's runtime; a server's etcd and its snapshots. */
export const MIN_DISK = { server: 4 * GiB, agent: 2 * GiB } as const;
/** A module's MemTotal below this share of its hardware's catalog memory is another board than the spec says. */
const MEMORY_SHARE = 0.8;
/** Beyond this, the agents' times for people and TLS certificate validity go wrong (docs/decisions/0004). */
export const MAX_CLOCK_OFFSET_MS = 2000;

/** TCP ports that must be free for what install starts, while it is not already running. */
export const SERVER_PORTS = [API_PORT, 2379, 2380, 10250] as const;
export const AGENT_PORTS = [10250] as const;
export const EDGEBOX_AGENT_PORTS = [7947, AGENT_METRICS_PORT] as const;
const PORT_OWNER: Record<number, string> = {
  [API_PORT]: 'the K3s API server',
  2379: 'etcd (client)',
  2380: 'etcd (peers)',
  10250: 'the kubelet',
  7947: "the edgebox agent's HTTP endpoint",
  [AGENT_METRICS_PORT]: "the edgebox agent's /metrics",
};

function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)} GiB`;
}

/** What lets a non-root login act as root on a module, as install, upgrade and uninstall need. */
export function sudoHint(user: string): string {
  return `edgebox changes the module as root: let ${user} use sudo without a password (as root on the module: \`echo '${user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/edgebox\`), or log in as root with --ssh-user root`;
}

export function preflight(box: BoxSpec, reach: ReadonlyMap<string, Reach>, ctx: PreflightContext): Diagnostic[] {
  const roles = k3sRoles(box);
  const out: Diagnostic[] = [];
  box.spec.modules.forEach((m, i) => {
    const at = (field?: string): Pick<Diagnostic, 'path' | 'location'> => {
      const path = field ? ['spec', 'modules', i, field] : ['spec', 'modules', i];
      return { path: `spec.modules[${i}]${field ? `.${field}` : ''}`, location: ctx.locate(path) };
    };
    const add = (code: string, message: string, hint: string, field?: string, severity: Diagnostic['severity'] = 'error') =>
      out.push({ code: `install.${code}`, severity, message: `module ${m.name} (${m.address}): ${message}`, hint, ...at(field) });
    const r = reach.get(m.name);
    if (!r) return;
    if (!r.ok) {
      const f = r.failure;
      if (f.kind === 'auth')
        add(
          'ssh-auth',
          f.message,
          `authorize the key on the module (\`ssh-copy-id -i ${ctx.keyPath}.pub ${ctx.user}@${m.address}\`) or pass the key it has with --ssh-key`,
        );
      else if (f.kind === 'sudo') add('ssh-sudo', f.message, sudoHint(ctx.user));
      else if (f.kind === 'key')
        add('ssh-key', f.message, 'pass a readable private key with --ssh-key (an ed25519 or RSA key without a passphrase, or load it in ssh-agent)');
      else
        add(
          'unreachable',
          f.message,
          `check that the module is powered on, that sshd runs on it and that spec.modules[${i}].address is its address`,
          'address',
        );
      return;
    }
    moduleChecks(box, m, roles.get(m.name) ?? 'agent', r.facts, ctx, add);
  });
  return out;
}

type Add = (code: string, message: string, hint: string, field?: string, severity?: Diagnostic['severity']) => void;

function moduleChecks(box: BoxSpec, m: ModuleSpec, role: string, f: ModuleFacts, ctx: PreflightContext, add: Add): void {
  const hw = findHardware(m.hardware);
  const arch = kubeArch(f.machine);
  const serves = role !== 'agent';
  const mayServe = m.roles.includes('server');

  if (!arch)
    add(
      'arch-unsupported',
      `it is ${f.machine}; K3s and the edgebox agent run on arm64 (aarch64) and amd64 (x86_64)`,
      'use another module, or drop it from the spec',
    );
  else if (hw && hw.arch !== arch)
    add(
      'arch-mismatch',
      `it is ${arch} (${f.machine}), but its hardware ${m.hardware} is ${hw.arch}`,
      `check spec.modules[].address (is this the module you meant?) or set the hardware id that this module is (\`edgebox catalog\`)`,
      'hardware',
    );
  else if (!ctx.k3s[arch])
    add(
      'no-k3s-binary',
      `no K3s binary for ${arch} was given`,
      `pass --k3s-binary with a K3s ${box.spec.k3s.version} binary for ${arch} (k3s-arm64 or k3s from the release)`,
    );
  else if (!ctx.ignoreK3sVersion && ctx.k3s[arch].version !== box.spec.k3s.version)
    add(
      'k3s-version',
      `the K3s binary for ${arch} is ${ctx.k3s[arch].version}, the spec pins ${box.spec.k3s.version}`,
      `pass the binary of ${box.spec.k3s.version}, pin ${ctx.k3s[arch].version} in spec.k3s.version, or install a build of your own with --ignore-k3s-version`,
    );

  if (!f.systemd)
    add(
      'no-systemd',
      `it has no systemd (systemctl)`,
      'edgebox installs K3s and its agent as systemd units: use an OS image with systemd (Raspberry Pi OS, Ubuntu, Debian, L4T)',
    );
  const runtime = arch ? agentRuntimeProblem(f.glibc, f.machine) : undefined;
  if (runtime) add('agent-runtime', runtime, 'the edgebox agent cannot run there: see the reason');

  const minMemory = serves || mayServe ? MIN_MEMORY.server : MIN_MEMORY.agent;
  if (f.memTotalBytes < minMemory)
    add(
      'memory',
      `it has ${gib(f.memTotalBytes)} of memory; ${serves || mayServe ? 'a module that may serve (K3s server with etcd)' : 'a K3s agent'} needs at least ${gib(minMemory)}`,
      serves || mayServe ? `make it agent-only (spec.modules[].roles: [agent]) or use a module with more memory` : 'use a module with more memory',
      serves || mayServe ? 'roles' : undefined,
    );
  else if (hw && f.memTotalBytes < hw.memoryBytes * MEMORY_SHARE)
    add(
      'memory-mismatch',
      `it has ${gib(f.memTotalBytes)} of memory, but its hardware ${m.hardware} has ${gib(hw.memoryBytes)}: plan and render count on the catalog's figure`,
      'set the hardware id of the variant this module is (`edgebox catalog`)',
      'hardware',
    );

  const minDisk = serves || mayServe ? MIN_DISK.server : MIN_DISK.agent;
  if (f.diskFreeBytes < minDisk)
    add('disk', `/var/lib has ${gib(f.diskFreeBytes)} free; it needs at least ${gib(minDisk)}`, 'free space on the module (or grow its root filesystem)');

  if (!Number.isFinite(f.clockOffsetMs)) add('clock', 'its clock could not be read (`date +%s%3N`)', 'install GNU coreutils on the module');
  else if (Math.abs(f.clockOffsetMs) > MAX_CLOCK_OFFSET_MS)
    add(
      'clock',
      `its clock is ${(Math.abs(f.clockOffsetMs) / 1000).toFixed(1)} s ${f.clockOffsetMs > 0 ? 'ahead of' : 'behind'} this machine's`,
      'turn on time sync on the module (`timedatectl set-ntp true`, or chrony) and on this machine; a board without an RTC boots with a wrong clock',
    );
  else if (f.ntpSynchronized === false)
    add(
      'clock-sync',
      'its clock is right now but not kept in sync (timedatectl: NTPSynchronized=no)',
      'turn on time sync: `timedatectl set-ntp true`',
      undefined,
      'warning',
    );

  if (f.systemd && !f.cgroupControllers.includes('memory'))
    add(
      'cgroups',
      'the memory cgroup controller is off; the kubelet refuses to start without it',
      'on a Raspberry Pi add `cgroup_memory=1 cgroup_enable=memory` to /boot/firmware/cmdline.txt and reboot',
    );

  const k3sUnit = role === 'agent' ? 'k3s-agent' : 'k3s';
  const ports = [...(f.units[k3sUnit]?.active ? [] : serves ? SERVER_PORTS : AGENT_PORTS), ...(f.units['edgebox-agent']?.active ? [] : EDGEBOX_AGENT_PORTS)];
  for (const p of ports.filter((p) => f.listening.includes(p)))
    add(
      'port-taken',
      `TCP port ${p}, which ${PORT_OWNER[p] ?? 'install'} needs, is taken by another program`,
      `stop what listens there (\`ss -ltnp 'sport = :${p}'\` on the module shows it)`,
    );

  if (m.capabilities.includes('can') && !f.interfaces.some((i) => /^(v?can|slcan)\d+$/.test(i)))
    add(
      'hardware-can',
      'the spec gives it the `can` capability, but it has no CAN interface (can0)',
      'bring the CAN interface up (device tree overlay, `ip link set can0 up type can bitrate ...`) or drop `can` from its capabilities',
      'capabilities',
      'warning',
    );
}
