import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

/**
 * Every module of a local box has a cgroup (v2) of its own, `<ours>/edgebox-<box tag>/<module>`,
 * and every process of the module runs in it: its agent, and its etcd member and API server
 * (started by `up` or by the agent's role driver). On one host all modules share the loopback
 * interface, and a connection from any of them leaves from 127.0.0.1 whatever address its peer
 * listens on: the cgroup is what tells the kernel's firewall whose packet it is (`iptables -m
 * cgroup --path`), so `isolate` and `partition` (partition.ts) cut all of a module's traffic,
 * heartbeats, etcd peer and client, API, as a dead switch port would. Nothing else uses the
 * cgroup: no controller is enabled in it, so it limits nothing.
 *
 * Without root or a cgroup v2 hierarchy the processes stay where they are and the box runs as
 * before; only cutting traffic then fails, with a diagnostic that says so.
 */

/** Identifies a box's firewall rules and cgroups: its directory, hashed to stay short. */
export function boxTag(dir: string): string {
  return createHash('sha256').update(dir).digest('hex').slice(0, 12);
}

/** Where cgroup v2 is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a hybrid host), if anywhere. */
export function cgroup2Mount(mounts = readOr('/proc/mounts')): string | undefined {
  for (const line of mounts.split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (type === 'cgroup2' && mountPoint) return mountPoint;
  }
  return undefined;
}

/** This process's cgroup v2 path (`0::<path>` in /proc/self/cgroup), relative to the hierarchy's root. */
export function ownCgroup(procSelf = readOr('/proc/self/cgroup')): string {
  const line = procSelf.split('\n').find((l) => l.startsWith('0::'));
  return line ? line.slice(3).trim() || '/' : '/';
}

/**
 * The module's cgroup path as iptables' `--path` takes it: relative to the hierarchy's root,
 * under the cgroup of whoever runs the box (a CI job may itself run in a nested cgroup). Pure.
 */
export function moduleCgroupPath(own: string, dir: string, module: string): string {
  const base = own === '/' ? '' : own.replace(/\/$/, '');
  return `${base}/edgebox-${boxTag(dir)}/${module}`;
}

/** The module's cgroup path, the one the rules match and the processes are put in. */
export function moduleCgroup(dir: string, module: string): string {
  return moduleCgroupPath(ownCgroup(), dir, module);
}

/** Whether this host can put modules in cgroups of their own: root, and a cgroup v2 hierarchy. */
export function cgroupsAvailable(): boolean {
  return process.getuid?.() === 0 && cgroup2Mount() !== undefined;
}

/**
 * Moves `pid` (all its threads) into the module's cgroup, creating it. Done right after the spawn
 * returns, which is after the exec: the process has had microseconds, not the milliseconds a Go or
 * Node runtime takes before it opens its first socket, and a socket is counted to the cgroup its
 * creator was in. Children it starts later are born in it. No-op where cgroups are not available.
 */
export function joinModuleCgroup(dir: string, module: string, pid: number): void {
  const mount = cgroup2Mount();
  if (process.getuid?.() !== 0 || !mount) return;
  const path = join(mount, moduleCgroup(dir, module));
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'cgroup.procs'), String(pid));
}

/** `down`: removes the box's (now empty) cgroups; one still holding a process is left, and said so. */
export function removeBoxCgroups(dir: string, modules: readonly string[]): string[] {
  const mount = cgroup2Mount();
  if (process.getuid?.() !== 0 || !mount) return [];
  const left: string[] = [];
  for (const m of modules) {
    const path = join(mount, moduleCgroup(dir, m));
    try {
      rmdirSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') left.push(path);
    }
  }
  try {
    rmdirSync(join(mount, moduleCgroupPath(ownCgroup(), dir, '')));
  } catch {
    // Not there, or not empty: said above.
  }
  return left;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
