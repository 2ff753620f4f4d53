/**
 * Integration-test harness: module hosts reachable only over SSH, what `edgebox install` meets on
 * a real box: a module with an OpenSSH server, root's key in it, and nothing of K3s or edgebox
 * installed. Each host is a real `/usr/sbin/sshd` on this machine, in namespaces of its own:
 * - network: its own netns on a bridge (the K3s engine's k3s-net.ts), its address on eth0, a
 *   default route on-link (K3s refuses to start without one); this machine is `.1` on the bridge.
 * - mount and UTS: the hostname is the host's name; /etc and /var/lib are overlays (writes stay
 *   the host's, under `root/.harness`), and these directories are the host's own, empty at
 *   creation, kept across kill/revive as `<root><path>` on this machine: /etc/rancher,
 *   /etc/systemd/system, /etc/edgebox, /var/lib/rancher, /var/lib/edgebox, /usr/local/bin, /opt,
 *   /run (emptied on revive, as a boot does), /var/log, /tmp, /root (root's home: this machine's
 *   .bashrc would change the sessions' PATH). /sys is the netns's own, with this machine's cgroups.
 * - processes: a cgroup (v2) of its own, where available, holding sshd, what its sessions start
 *   and what `exec` runs; `kill` empties it (and whatever is left in the netns) with SIGKILL, as a
 *   power cut would. The cgroup hierarchies themselves are this machine's, shared by all hosts.
 * Units are run by the systemctl stand-in (SYSTEMCTL below: what it plays and not); a `revive`
 * starts the enabled ones, as a boot does. `start` of a Type=notify unit returns once its process
 * is spawned: wait for readiness by what the unit serves.
 * The shim dir /usr/local/sbin (read-only) holds the systemctl stand-in, also bound over
 * /usr/bin/systemctl (this machine has systemd's, which cannot run without systemd as pid 1),
 * and with `unameMachine` a `uname` that answers it for `-m`. `memTotalKiB` binds a
 * /proc/meminfo with that MemTotal. Everything else is this machine's: binaries, libraries,
 * `process.arch` of a node run there, and the rest of the file system (this harness's files too,
 * under /var/tmp: not /tmp, which the hosts cover).
 *
 *   let hosts: SshHosts;
 *   beforeAll(async () => {
 *     hosts = await createSshHosts({ prefix: 'ebinst', subnet: '10.213.251', hosts: [{ name: 'srv-1', address: '10.213.251.11' }] });
 *   });
 *   afterAll(() => hosts?.down());
 *   // ssh -i ${hosts.keyPath} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@10.213.251.11 ...
 *
 * Needs root, iproute2, util-linux, openssh-server. Keep subnets out of 10.213.0-249, the K3s
 * engine's (k3s-plan.ts k3sNetwork); a subnet already on an interface is refused.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { createNetwork, removeNetwork } from '../../src/local/engine/k3s-net.js';
import type { K3sNetwork } from '../../src/local/engine/k3s-plan.js';
import { cgroup2Mount, cgroupsAvailable, ownCgroup } from '../../src/local/module-cgroup.js';

export interface SshHostSpec {
  /** The host's name and hostname, e.g. 'srv-1'. */
  name: string;
  /** IPv4 inside the harness subnet (not `.1`, this machine's). */
  address: string;
  /** What `uname -m` answers on this host. Default: this machine's. */
  unameMachine?: string;
  /** MemTotal in the host's /proc/meminfo (MemFree and MemAvailable capped to it). Default: this machine's file. */
  memTotalKiB?: number;
}

export interface SshHost {
  name: string;
  address: string;
  /** `ip netns` name. */
  netns: string;
  /** The host's private directories on this machine: its `/etc/rancher` is `<root>/etc/rancher`. */
  root: string;
  /** Its sshd, the process whose namespaces are the host's; 0 while the host is killed. */
  pid: number;
}

export interface SshHosts {
  hosts: SshHost[];
  user: 'root';
  /** Private key (ed25519, 0600) that every host accepts for root. */
  keyPath: string;
  /** A key no host accepts. */
  otherKeyPath: string;
  /** This machine's address on the bridge. */
  hostAddress: string;
  /** Runs a command on a host as ssh would (`bash -c`, root's environment, in its namespaces and cgroup), through nsenter. */
  exec(host: string, command: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /**
   * Adds a login user on a host, with the harness key authorized and a home of the host's own
   * (/var/lib/home/<user>); with `sudo`, allowed every command through sudo without a password.
   */
  addUser(host: string, user: string, o: { sudo: boolean }): Promise<void>;
  /** Kills the host's sshd and everything started under it with SIGKILL (a power cut); keeps its files. */
  kill(host: string): Promise<void>;
  /** Boots a killed host: empties its /run, starts its sshd, then `systemctl start`s the units enabled on it. */
  revive(host: string): Promise<void>;
  /** Kills every host, removes the namespaces, bridge, cgroups and directories. Idempotent. */
  down(): Promise<void>;
}

export interface CreateSshHostsOptions {
  /** Short and unique per test file: names the bridge (`<prefix>-br`), veths (`<prefix>-v<i>`) and netns (`<prefix>-<name>`). At most 11 of [a-z0-9-]. */
  prefix: string;
  /** First three octets of a /24: '10.213.251' puts the bridge on .1 and the hosts on their addresses. */
  subnet: string;
  hosts: SshHostSpec[];
}

/** The PATH sshd gives root's sessions (Debian's SUPERUSER_PATH), and the one units start with. */
export const SESSION_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The host's own directories, bound over the same paths in its mount namespace. */
const PRIVATE_DIRS = [
  'etc/rancher',
  'etc/systemd/system',
  'etc/edgebox',
  'var/lib/rancher',
  'var/lib/edgebox',
  'usr/local/bin',
  'opt',
  'run',
  'var/log',
  'tmp',
  'root',
];

/**
 * Run in the host's fresh mount and UTS namespaces (unshare), already in its netns (nsenter):
 * becomes its sshd. $1 the harness dir, $2 the root, $3 the cgroup ('' for none), $4 the name.
 * The cgroup first, so every process of the host is born in it. A new sysfs shows the netns's
 * interfaces; the cgroup mounts are moved onto it, as K3s needs them.
 */
const BOOT_SCRIPT = `set -e
H=$1 R=$2
if [ -n "$3" ]; then echo $$ > "$3/cgroup.procs"; fi
hostname "$4"
mount --rbind /sys/fs/cgroup "$H/cgroup"
mount -t sysfs sysfs /sys
mount --move "$H/cgroup" /sys/fs/cgroup
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$H/etc-upper,workdir=$H/etc-work" /etc
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$H/var-lib-upper,workdir=$H/var-lib-work" /var/lib
for d in ${PRIVATE_DIRS.join(' ')}; do mkdir -p "/$d"; mount --bind "$R/$d" "/$d"; done
mount --bind "$H/sbin" /usr/local/sbin
mount -o remount,bind,ro /usr/local/sbin
mount --bind "$H/sbin/systemctl" /usr/bin/systemctl
if [ -f "$H/meminfo" ]; then mount --bind "$H/meminfo" /proc/meminfo; fi
exec /usr/sbin/sshd -D -f "$H/sshd_config" -E "$H/sshd.log"
`;

/** $1 the cgroup ('' for none), $2 the command: what sshd would run for it, as root. */
const EXEC_SCRIPT = `if [ -n "$1" ]; then echo $$ > "$1/cgroup.procs"; fi
cd /root
exec env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash PATH=${SESSION_PATH} /bin/bash -c "$2"
`;

/**
 * The systemctl stand-in: a Node script (this machine's node) at /usr/local/sbin/systemctl in
 * every host. Written with no backquote or dollar-brace: it is a template literal here.
 */
const SYSTEMCTL = String.raw`// A test double of systemd's systemctl, for the SSH test hosts (test/integration/ssh-hosts.ts),
// which have no init system. It really runs the units in /etc/systemd/system.
// Plays: daemon-reload and reset-failed (no-ops: units are read at each start), start, stop,
// restart, enable/disable [--now] (symlinks in <target>.wants/, from [Install] WantedBy=),
// is-active, is-enabled, show [-p A,B] [--value], status. From the unit and its drop-ins
// (<unit>.service.d/*.conf, in name order; an empty assignment resets a list):
// ConditionPathExists= (unmet: start is skipped, exit 0), Environment=, EnvironmentFile= (- =
// optional; the file wins over Environment=), ExecStartPre= (- = failure ignored), ExecStart=
// (\ continuations, quotes and C escapes, $VAR and dollar-brace VAR expansion, %n %N %p %% specifiers),
// Restart=always|on-failure with RestartSec= (a sh supervisor loop, started with setsid; its pid
// and the main pid are in /run/systemd-standin/<unit>/), KillMode= (control-group, the default,
// and mixed: the supervisor's process group gets SIGTERM, SIGKILL 10 s later; process: the main
// process only). Output goes to /var/log/<unit>.log. Units start with PATH and HOME=/root.
// Type= is not played: start returns once ExecStartPre= ran and ExecStart='s process is spawned,
// never waiting for a notify unit's READY=1 nor a oneshot's end. Not played either: other unit
// directories, User=, limits, sandboxing, dependencies and ordering, StartLimitBurst=, timers,
// sockets, targets, the journal. A "boot" (the harness's revive) starts the enabled units.
'use strict';
const fs = require('fs');
const path = require('path');
const cp = require('child_process');

const UNITS = '/etc/systemd/system';
const STATE = '/run/systemd-standin';
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ESC = { n: '\n', t: '\t', r: '\r', s: ' ' };

const read = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return undefined; } };
const dir = (u) => path.join(STATE, u);
const out = (s) => process.stdout.write(s + '\n');
const err = (s) => process.stderr.write(s + '\n');
const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const q = (s) => "'" + s.replace(/'/g, "'\\''") + "'";

function load(u) {
  const main = path.join(UNITS, u + '.service');
  if (read(main) === undefined) return undefined;
  let dropins = [];
  try { dropins = fs.readdirSync(main + '.d').filter((n) => n.endsWith('.conf')).sort().map((n) => path.join(main + '.d', n)); } catch {}
  const keys = {};
  for (const f of [main, ...dropins]) {
    let section = '';
    for (const raw of (read(f) || '').replace(/\\\r?\n/g, ' ').split('\n')) {
      const line = raw.trim();
      if (!line || line[0] === '#' || line[0] === ';') continue;
      if (line[0] === '[') { section = line.slice(1, line.indexOf(']')); continue; }
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      const key = section + '.' + line.slice(0, eq).trim();
      const value = spec(u, line.slice(eq + 1).trim());
      if (value === '') keys[key] = []; else (keys[key] = keys[key] || []).push(value);
    }
  }
  const all = (k) => keys[k] || [];
  return { all, last: (k, d) => all(k).length ? all(k)[all(k).length - 1] : d };
}

function spec(u, s) {
  return s.replace(/%([nNp%])/g, (_, c) => (c === 'n' ? u + '.service' : c === '%' ? '%' : u));
}

// systemd's word splitting: quotes group, backslash escapes anywhere.
function split(s) {
  const words = [];
  let cur = null;
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) { const n = s[++i]; cur = (cur || '') + (n in ESC ? ESC[n] : n); continue; }
    if (quote) { if (c === quote) quote = ''; else cur += c; continue; }
    if (c === '"' || c === "'") { quote = c; cur = cur || ''; continue; }
    if (c === ' ' || c === '\t') { if (cur !== null) words.push(cur); cur = null; continue; }
    cur = (cur || '') + c;
  }
  if (cur !== null) words.push(cur);
  return words;
}

// "$VAR" as a word of its own splits at whitespace; dollar-brace VAR is replaced inside a word.
function command(line, env) {
  let ignore = false;
  while (/^[-@+!:]/.test(line)) { if (line[0] === '-') ignore = true; line = line.slice(1); }
  const argv = [];
  for (const w of split(line)) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w);
    if (whole) { argv.push(...(env[whole[1]] || '').split(/\s+/).filter(Boolean)); continue; }
    argv.push(w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k) => env[k] || '').replace(/\$\$/g, '$'));
  }
  return { ignore, argv };
}

function seconds(s) {
  const m = /^([\d.]+)\s*(ms|s|sec|m|min|h)?$/.exec(s.trim());
  if (!m) return 0.1;
  return Number(m[1]) * ({ ms: 0.001, m: 60, min: 60, h: 3600 }[m[2]] || 1);
}

function alive(pid) {
  if (!pid) return false;
  const stat = read('/proc/' + pid + '/stat');
  if (!stat) return false;
  const state = stat[stat.lastIndexOf(')') + 2];
  return state !== 'Z' && state !== 'X';
}

function pidIn(u, file) {
  const pid = Number((read(path.join(dir(u), file)) || '').trim());
  return alive(pid) ? pid : 0;
}

// The live members of a process group (zombies left out: nobody may reap them soon).
function group(pgid) {
  const pids = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const stat = read('/proc/' + p + '/stat');
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) === pgid && f[0] !== 'Z' && f[0] !== 'X') pids.push(Number(p));
  }
  return pids;
}

function state(u) {
  const sup = pidIn(u, 'supervisor.pid');
  const main = pidIn(u, 'main.pid');
  const result = (read(path.join(dir(u), 'result')) || '').trim();
  if (sup && main) return { active: 'active', sub: 'running', main, result };
  if (sup) return { active: 'activating', sub: result ? 'auto-restart' : 'start-pre', main: 0, result };
  if (result && result !== 'success') return { active: 'failed', sub: 'failed', main: 0, result };
  return { active: 'inactive', sub: 'dead', main: 0, result };
}

function wants(u) {
  const links = [];
  for (const d of fs.readdirSync(UNITS)) {
    const link = path.join(UNITS, d, u + '.service');
    if (/\.(wants|requires)$/.test(d) && fs.lstatSync(link, { throwIfNoEntry: false })) links.push(link);
  }
  return links;
}

function unitFileState(u, unit) {
  if (wants(u).length) return 'enabled';
  return unit.all('Install.WantedBy').length || unit.all('Install.RequiredBy').length ? 'disabled' : 'static';
}

function start(u, unit) {
  if (state(u).active === 'active' || state(u).active === 'activating') return 0;
  const d = dir(u);
  fs.mkdirSync(d, { recursive: true });
  for (const f of ['result', 'main.pid', 'stopping', 'supervisor.pid']) fs.rmSync(path.join(d, f), { force: true });
  const logFile = '/var/log/' + u + '.log';
  for (const c of unit.all('Unit.ConditionPathExists')) {
    const p = c.replace(/^\|/, '');
    if (fs.existsSync(p.replace(/^!/, '')) === p.startsWith('!')) {
      fs.writeFileSync(path.join(d, 'condition'), 'no');
      fs.appendFileSync(logFile, u + '.service was skipped because of an unmet condition check (ConditionPathExists=' + c + ').\n');
      return 0;
    }
  }
  fs.writeFileSync(path.join(d, 'condition'), 'yes');
  const env = { PATH: PATH_ENV, HOME: '/root' };
  for (const v of unit.all('Service.Environment')) for (const w of split(v)) { const i = w.indexOf('='); if (i > 0) env[w.slice(0, i)] = w.slice(i + 1); }
  for (const v of unit.all('Service.EnvironmentFile')) {
    const file = v.replace(/^-/, '');
    const text = read(file);
    if (text === undefined) {
      if (v.startsWith('-')) continue;
      err('Failed to start ' + u + '.service: failed to load environment file ' + file);
      return 1;
    }
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      const i = line.indexOf('=');
      if (!line || line[0] === '#' || line[0] === ';' || i < 1) continue;
      env[line.slice(0, i).trim()] = line.slice(i + 1).trim().replace(/^(["'])(.*)\1$/, '$2');
    }
  }
  const main = unit.last('Service.ExecStart');
  if (!main) { err('Failed to start ' + u + '.service: Unit ' + u + '.service has a bad unit file setting (no ExecStart=).'); return 1; }
  const restart = unit.last('Service.Restart', 'no');
  const sec = seconds(unit.last('Service.RestartSec', '100ms'));
  const run = (c) => c.argv.map(q).join(' ');
  const lines = ['D=' + q(d), 'while :; do', '  rm -f "$D/result"', '  rc=0'];
  for (const pre of unit.all('Service.ExecStartPre').map((l) => command(l, env))) {
    if (pre.ignore) lines.push('  if [ $rc -eq 0 ]; then ' + run(pre) + ' || true; fi');
    else lines.push('  if [ $rc -eq 0 ]; then ' + run(pre) + '; rc=$?; if [ $rc -ne 0 ]; then echo "pre-failed $rc" > "$D/result"; fi; fi');
  }
  lines.push(
    '  if [ $rc -eq 0 ]; then',
    '    ' + run(command(main, env)) + ' &',
    '    echo $! > "$D/main.pid"',
    '    wait $!; rc=$?',
    '    rm -f "$D/main.pid"',
    '    if [ $rc -eq 0 ]; then echo success > "$D/result"; else echo "exit-code $rc" > "$D/result"; fi',
    '  fi',
    '  [ ! -e "$D/stopping" ] || exit 0',
    '  case ' + q(restart) + ' in always) ;; on-failure) [ $rc -ne 0 ] || exit 0 ;; *) exit 0 ;; esac',
    '  echo "systemctl stand-in: ' + u + '.service exited ($rc), restarting in ' + sec + ' s"',
    '  sleep ' + sec,
    'done',
  );
  fs.writeFileSync(path.join(d, 'supervise.sh'), lines.join('\n') + '\n');
  const log = fs.openSync(logFile, 'a');
  const child = cp.spawn('/bin/sh', [path.join(d, 'supervise.sh')], { detached: true, stdio: ['ignore', log, log], env, cwd: '/' });
  fs.writeFileSync(path.join(d, 'supervisor.pid'), String(child.pid));
  child.unref();
  for (const deadline = Date.now() + 30000; Date.now() < deadline; pause(20)) {
    const s = state(u);
    if (s.result.startsWith('pre-failed')) {
      err('Job for ' + u + '.service failed because the control process exited with error code.');
      return 1;
    }
    if (s.main || s.result || !pidIn(u, 'supervisor.pid')) return 0;
  }
  return 0;
}

function stop(u, unit) {
  const d = dir(u);
  const sup = pidIn(u, 'supervisor.pid');
  const main = pidIn(u, 'main.pid');
  if (sup || main) {
    fs.writeFileSync(path.join(d, 'stopping'), '');
    const only = unit.last('Service.KillMode', 'control-group') === 'process';
    const left = () => (only ? [sup, main].filter(alive) : [...new Set([...(sup ? group(sup) : []), ...[main].filter(alive)])]);
    const signal = (sig) => left().forEach((p) => { try { process.kill(p, sig); } catch {} });
    signal('SIGTERM');
    for (const deadline = Date.now() + 10000; left().length && Date.now() < deadline; ) pause(50);
    signal('SIGKILL');
    for (const deadline = Date.now() + 5000; left().length && Date.now() < deadline; ) pause(20);
  }
  for (const f of ['result', 'main.pid', 'stopping', 'supervisor.pid']) fs.rmSync(path.join(d, f), { force: true });
  return 0;
}

function enable(u, unit) {
  const targets = [...unit.all('Install.WantedBy').map((t) => t + '.wants'), ...unit.all('Install.RequiredBy').map((t) => t + '.requires')];
  if (!targets.length) {
    err('The unit files have no installation config (WantedBy=, RequiredBy=, Also=, Alias= settings in the [Install] section, and DefaultInstance= for template units).');
    return;
  }
  for (const t of targets.flatMap((t) => t.split(/\s+/))) {
    const link = path.join(UNITS, t, u + '.service');
    fs.mkdirSync(path.dirname(link), { recursive: true });
    if (!fs.lstatSync(link, { throwIfNoEntry: false })) {
      fs.symlinkSync(path.join(UNITS, u + '.service'), link);
      err('Created symlink ' + link + ' → ' + path.join(UNITS, u + '.service') + '.');
    }
  }
}

function disable(u) {
  for (const link of wants(u)) { fs.rmSync(link); err('Removed "' + link + '".'); }
}

function show(u, unit, props, valueOnly) {
  const s = unit ? state(u) : { active: 'inactive', sub: 'dead', main: 0, result: '' };
  const code = /^exit-code (\d+)/.exec(s.result);
  const all = {
    Id: u + '.service',
    LoadState: unit ? 'loaded' : 'not-found',
    ActiveState: s.active,
    SubState: s.sub,
    MainPID: String(s.main),
    UnitFileState: unit ? unitFileState(u, unit) : '',
    ExecMainStatus: code ? code[1] : '0',
    ConditionResult: (read(path.join(dir(u), 'condition')) || 'yes').trim(),
  };
  const keys = props.length ? props : Object.keys(all);
  return keys.map((k) => (valueOnly ? '' : k + '=') + (all[k] === undefined ? '' : all[k])).join('\n');
}

function main(args) {
  const props = [];
  const flags = new Set();
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-p' || a === '--property') props.push(...(args[++i] || '').split(','));
    else if (a.startsWith('--property=')) props.push(...a.slice(11).split(','));
    else if (/^-p./.test(a)) props.push(...a.slice(2).split(','));
    else if (a.startsWith('-')) flags.add(a === '-q' ? '--quiet' : a);
    else rest.push(a);
  }
  const [verb, ...names] = rest;
  const units = names.map((n) => n.replace(/\.service$/, ''));
  const quiet = flags.has('--quiet');
  if (verb === 'daemon-reload' || verb === 'reset-failed') return 0;
  if (verb === 'is-active') {
    let code = 0;
    for (const u of units) { const a = load(u) ? state(u).active : 'inactive'; if (!quiet) out(a); if (a !== 'active') code = 3; }
    return code;
  }
  if (verb === 'show') {
    out(units.map((u) => show(u, load(u), props, flags.has('--value'))).join('\n\n'));
    return 0;
  }
  const loaded = units.map((u) => [u, load(u)]);
  const missing = loaded.find(([, unit]) => !unit);
  if (verb === 'is-enabled') {
    if (missing) { err('Failed to get unit file state for ' + missing[0] + '.service: No such file or directory'); return 1; }
    let code = 0;
    for (const [u, unit] of loaded) { const f = unitFileState(u, unit); if (!quiet) out(f); if (f === 'disabled') code = 1; }
    return code;
  }
  if (verb === 'status') {
    if (missing) { err('Unit ' + missing[0] + '.service could not be found.'); return 4; }
    let code = 0;
    for (const [u, unit] of loaded) {
      const s = state(u);
      out('● ' + u + '.service - ' + unit.last('Unit.Description', u + '.service'));
      out('     Loaded: loaded (' + path.join(UNITS, u + '.service') + '; ' + unitFileState(u, unit) + ')');
      out('     Active: ' + s.active + ' (' + s.sub + ')' + (s.main ? '\n   Main PID: ' + s.main : ''));
      const log = (read('/var/log/' + u + '.log') || '').trimEnd().split('\n').slice(-10).join('\n');
      if (log) out('\n' + log);
      if (s.active !== 'active') code = 3;
    }
    return code;
  }
  const verbs = { start: 'start', stop: 'stop', restart: 'restart', enable: 'enable', disable: 'disable' };
  if (!(verb in verbs)) { err('systemctl stand-in (test double): verb "' + verb + '" is not played'); return 1; }
  if (missing) { err('Failed to ' + verb + ' ' + missing[0] + '.service: Unit ' + missing[0] + '.service not found.'); return 5; }
  let code = 0;
  for (const [u, unit] of loaded) {
    if (verb === 'enable') { enable(u, unit); if (flags.has('--now')) code = start(u, unit) || code; }
    if (verb === 'disable') { disable(u); if (flags.has('--now')) code = stop(u, unit) || code; }
    if (verb === 'stop' || verb === 'restart') code = stop(u, unit) || code;
    if (verb === 'start' || verb === 'restart') code = start(u, unit) || code;
  }
  return code;
}

process.exitCode = main(process.argv.slice(2));
`;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const UNAME = (machine: string) => `#!/bin/sh
# The SSH test host's uname (test/integration/ssh-hosts.ts): pretends to be a ${machine} for -m.
case "$*" in -m | --machine) echo ${q(machine)}; exit 0 ;; esac
exec /usr/bin/uname "$@"
`;

/** /proc/meminfo's text with MemTotal set, MemFree and MemAvailable capped to it, columns kept. */
function meminfoWith(real: string, memTotalKiB: number): string {
  return real.replace(/^(MemTotal|MemFree|MemAvailable):(\s+)(\d+)/gm, (_, key: string, space: string, value: string) => {
    const v = String(key === 'MemTotal' ? memTotalKiB : Math.min(Number(value), memTotalKiB));
    return `${key}:${v.padStart(Math.max(space.length + value.length, v.length + 1))}`;
  });
}

interface Host {
  spec: SshHostSpec;
  netns: string;
  root: string;
  /** Files of the harness for this host (sshd_config, keys, shims, logs, overlay layers). */
  harness: string;
  /** cgroup directory on this machine, if cgroup v2 is available. */
  cgroup: string | undefined;
  pid: number;
  /** The spawned sshd: this process is its parent, and reaps it. */
  child?: ChildProcess;
}

const run = promisify(execFile);

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args, { timeout: 30_000 })).stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim()}`, { cause: e });
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Live (not zombie) processes in the host's netns or cgroup. */
function hostPids(h: Host): number[] {
  const pids = new Set<number>();
  if (h.cgroup && existsSync(h.cgroup)) {
    for (const p of readFileSync(join(h.cgroup, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
  }
  try {
    for (const p of execFileSync('ip', ['netns', 'pids', h.netns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n'))
      if (p) pids.add(Number(p));
  } catch {
    // No netns (any more): nothing in it.
  }
  return [...pids].filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return !/[ZX]/.test(stat[stat.lastIndexOf(')') + 2] ?? 'X');
    } catch {
      return false;
    }
  });
}

/** SIGKILL to everything of the host until nothing is left (synchronous: also run at exit). */
function killSync(h: Host): string[] {
  if (h.cgroup && existsSync(h.cgroup)) {
    try {
      writeFileSync(join(h.cgroup, 'cgroup.kill'), '1');
    } catch {
      // A kernel before 5.14: the signals below do it.
    }
  }
  for (const p of hostPids(h)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  h.pid = 0;
  return hostPids(h).map(String);
}

async function killHost(h: Host): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let left = killSync(h); left.length > 0; left = killSync(h)) {
    if (Date.now() > deadline) throw new Error(`processes of SSH host ${h.spec.name} survive SIGKILL: ${left.join(' ')}`);
    await sleep(50);
  }
  // Reaped, so its pid is gone from /proc when this returns.
  const child = h.child;
  if (child && child.exitCode === null && child.signalCode === null) await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5_000)]);
}

/** Resolves once sshd at `address` sends its banner; fails if `pid` dies first or after 15 s. */
async function waitForSshd(h: Host): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const banner = await new Promise<string>((resolve) => {
      const s = connect({ host: h.spec.address, port: 22, timeout: 1000 });
      let got = '';
      s.on('data', (c: Buffer) => {
        got += c.toString();
        if (got.includes('\n')) s.destroy();
      });
      s.on('timeout', () => s.destroy());
      s.on('error', () => undefined);
      s.on('close', () => resolve(got));
    });
    if (banner.startsWith('SSH-2.0-')) return;
    const dead = !existsSync(`/proc/${h.pid}`);
    if (dead || Date.now() > deadline) {
      const logs = await Promise.all(['start.log', 'sshd.log'].map((f) => readFile(join(h.harness, f), 'utf8').catch(() => '')));
      throw new Error(`sshd of SSH host ${h.spec.name} ${dead ? 'exited' : 'never answered'}:\n${logs.join('\n')}`);
    }
    await sleep(50);
  }
}

async function startSshd(h: Host): Promise<void> {
  await mkdir(join(h.root, 'run', 'sshd'), { recursive: true, mode: 0o755 });
  const log = openSync(join(h.harness, 'start.log'), 'a');
  try {
    const child = spawn(
      'nsenter',
      [
        `--net=/run/netns/${h.netns}`,
        '--',
        'unshare',
        '--mount',
        '--uts',
        '--propagation',
        'private',
        '--',
        '/bin/sh',
        '-c',
        BOOT_SCRIPT,
        'edgebox-ssh-host',
        h.harness,
        h.root,
        h.cgroup ?? '',
        h.spec.name,
      ],
      { detached: true, stdio: ['ignore', log, log], env: { PATH: SESSION_PATH } },
    );
    child.on('error', () => undefined);
    child.unref();
    h.child = child;
    h.pid = child.pid ?? 0;
  } finally {
    closeSync(log);
  }
  await waitForSshd(h);
}

async function layOut(h: Host, keyPath: string): Promise<void> {
  await Promise.all(
    [
      ...PRIVATE_DIRS.map((d) => join(h.root, d)),
      ...['sbin', 'cgroup', 'etc-upper', 'etc-work', 'var-lib-upper', 'var-lib-work'].map((d) => join(h.harness, d)),
    ].map((d) => mkdir(d, { recursive: true })),
  );
  await chmod(join(h.root, 'root'), 0o700);
  await chmod(join(h.root, 'tmp'), 0o1777);
  await writeFile(join(h.harness, 'etc-upper', 'hostname'), `${h.spec.name}\n`);
  // Its name resolves, as Debian's installer arranges: sudo looks it up at every command (seconds
  // of DNS timeouts without it).
  const etcHosts = await readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n');
  await writeFile(join(h.harness, 'etc-upper', 'hosts'), `${etcHosts.trimEnd()}\n127.0.1.1\t${h.spec.name}\n`);
  await copyFile(`${keyPath}.pub`, join(h.harness, 'authorized_keys'));
  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${h.spec.name}`, '-f', join(h.harness, 'ssh_host_ed25519_key')]);
  await writeFile(
    join(h.harness, 'sshd_config'),
    [
      `ListenAddress ${h.spec.address}:22`,
      `HostKey ${join(h.harness, 'ssh_host_ed25519_key')}`,
      'PidFile /run/sshd.pid',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // root's, then other users' own (addUser): sshd reads these as the user, who cannot read the first.
      `AuthorizedKeysFile ${join(h.harness, 'authorized_keys')} .ssh/authorized_keys`,
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      'MaxStartups 100',
      'MaxSessions 50',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  await writeFile(join(h.harness, 'sbin', 'systemctl'), `#!${process.execPath}\n${SYSTEMCTL}`, { mode: 0o755 });
  if (h.spec.unameMachine) await writeFile(join(h.harness, 'sbin', 'uname'), UNAME(h.spec.unameMachine), { mode: 0o755 });
  if (h.spec.memTotalKiB !== undefined) await writeFile(join(h.harness, 'meminfo'), meminfoWith(await readFile('/proc/meminfo', 'utf8'), h.spec.memTotalKiB));
}

/** Units enabled on the host (links in /etc/systemd/system/<target>.wants/), as a boot starts them. */
async function enabledUnits(h: Host): Promise<string[]> {
  const dir = join(h.root, 'etc', 'systemd', 'system');
  const units = new Set<string>();
  for (const d of await readdir(dir).catch(() => [])) {
    if (!/\.(wants|requires)$/.test(d)) continue;
    for (const f of await readdir(join(dir, d)).catch(() => [])) if (f.endsWith('.service')) units.add(f.slice(0, -'.service'.length));
  }
  return [...units].sort();
}

function validate(o: CreateSshHostsOptions): void {
  if (!/^[a-z0-9][a-z0-9-]{0,10}$/.test(o.prefix))
    throw new Error(`SSH hosts: prefix '${o.prefix}' must be 1-11 of [a-z0-9-] (interface names have 15 characters)`);
  const octets = o.subnet.split('.').map(Number);
  if (octets.length !== 3 || octets.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new Error(`SSH hosts: subnet '${o.subnet}' is not three octets`);
  const names = new Set<string>();
  const addresses = new Set<string>();
  for (const h of o.hosts) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(h.name) || names.has(h.name)) throw new Error(`SSH hosts: name '${h.name}' is not a unique hostname`);
    const last = h.address.startsWith(`${o.subnet}.`) ? Number(h.address.slice(o.subnet.length + 1)) : NaN;
    if (!Number.isInteger(last) || last < 2 || last > 254 || addresses.has(h.address)) {
      throw new Error(`SSH hosts: address '${h.address}' of ${h.name} must be a unique ${o.subnet}.2-254`);
    }
    names.add(h.name);
    addresses.add(h.address);
  }
}

/** Harnesses not yet down; their processes and links are removed if the test process exits without `down()`. */
const live = new Set<{ hosts: Host[]; net: K3sNetwork }>();
process.once('exit', () => {
  for (const { hosts, net } of live) {
    for (const h of hosts) killSync(h);
    for (const args of [...Object.values(net.members).flatMap((m) => [['link', 'delete', m.veth]]), ['link', 'delete', net.bridge]]) {
      try {
        execFileSync('ip', args, { stdio: 'ignore' });
      } catch {
        // Gone already.
      }
    }
    for (const m of Object.values(net.members)) {
      try {
        execFileSync('ip', ['netns', 'delete', m.netns], { stdio: 'ignore' });
      } catch {
        // Gone already.
      }
    }
    for (const h of hosts) rmSync(join(h.root, '..'), { recursive: true, force: true });
  }
});

export async function createSshHosts(o: CreateSshHostsOptions): Promise<SshHosts> {
  validate(o);
  const net: K3sNetwork = {
    bridge: `${o.prefix}-br`,
    hostAddress: `${o.subnet}.1`,
    prefixLength: 24,
    members: Object.fromEntries(o.hosts.map((h, i) => [h.name, { netns: `${o.prefix}-${h.name}`, veth: `${o.prefix}-v${i}`, address: h.address }])),
  };
  // Leftovers of a run of the same file that crashed (its processes first: they would keep a
  // deleted netns alive); then a subnet used elsewhere is refused.
  for (const m of Object.values(net.members)) {
    const pids = await sh('ip', ['netns', 'pids', m.netns]).catch(() => '');
    for (const p of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  await removeNetwork(net);
  const inUse = (await sh('ip', ['-o', '-4', 'addr', 'show'])).split('\n').find((l) => l.includes(` inet ${o.subnet}.`));
  if (inUse) throw new Error(`SSH hosts: subnet ${o.subnet}.0/24 is in use on this machine: ${inUse.trim()}`);

  const base = await mkdtemp(join('/var/tmp', `edgebox-ssh-${o.prefix}-`));
  const cgroupBase = cgroupsAvailable() ? join(cgroup2Mount()!, ownCgroup(), basename(base)) : undefined;
  const hosts: Host[] = o.hosts.map((spec) => ({
    spec,
    netns: net.members[spec.name]!.netns,
    root: join(base, spec.name),
    harness: join(base, spec.name, '.harness'),
    cgroup: cgroupBase && join(cgroupBase, spec.name),
    pid: 0,
  }));
  const entry = { hosts, net };
  live.add(entry);
  const byName = (name: string): Host => {
    const h = hosts.find((x) => x.spec.name === name);
    if (!h) throw new Error(`no SSH host '${name}': one of ${hosts.map((x) => x.spec.name).join(', ')}`);
    return h;
  };

  const exec = (name: string, command: string) => {
    const h = byName(name);
    if (!h.pid) return Promise.reject(new Error(`SSH host ${name} is down (killed): revive it first`));
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        'nsenter',
        ['--target', String(h.pid), '--net', '--mount', '--uts', '--', '/bin/sh', '-c', EXEC_SCRIPT, 'edgebox-ssh-exec', h.cgroup ?? '', command],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: SESSION_PATH } },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    });
  };

  let downing: Promise<void> | undefined;
  const down = () =>
    (downing ??= (async () => {
      for (const h of hosts) await killHost(h);
      await removeNetwork(net);
      for (const h of hosts) if (h.cgroup) await rmdir(h.cgroup).catch(() => undefined);
      if (cgroupBase) await rmdir(cgroupBase).catch(() => undefined);
      await rm(base, { recursive: true, force: true });
      live.delete(entry);
    })());

  try {
    if (cgroupBase) for (const h of hosts) await mkdir(h.cgroup!, { recursive: true });
    await createNetwork(net);
    const keyPath = join(base, 'id_ed25519');
    const otherKeyPath = join(base, 'other_ed25519');
    await Promise.all([keyPath, otherKeyPath].map((f) => sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', basename(f), '-f', f])));
    await Promise.all(hosts.map((h) => layOut(h, keyPath)));
    await Promise.all(hosts.map((h) => startSshd(h)));
    return {
      get hosts() {
        return hosts.map((h) => ({ name: h.spec.name, address: h.spec.address, netns: h.netns, root: h.root, pid: h.pid }));
      },
      user: 'root',
      keyPath,
      otherKeyPath,
      hostAddress: net.hostAddress,
      exec,
      async addUser(name, user, o) {
        const key = (await readFile(`${keyPath}.pub`, 'utf8')).trim();
        const home = `/var/lib/home/${user}`;
        const r = await exec(
          name,
          [
            'set -e',
            'mkdir -p /var/lib/home',
            // '*': no password, and not locked ('!'), which sshd without PAM refuses.
            `id ${user} >/dev/null 2>&1 || useradd -m -d ${home} -p '*' -s /bin/sh ${user}`,
            `mkdir -p ${home}/.ssh && echo '${key}' > ${home}/.ssh/authorized_keys`,
            `chown -R ${user}: ${home}/.ssh && chmod 700 ${home}/.ssh && chmod 600 ${home}/.ssh/authorized_keys`,
            o.sudo ? `echo '${user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/${user} && chmod 440 /etc/sudoers.d/${user}` : `rm -f /etc/sudoers.d/${user}`,
          ].join('\n'),
        );
        if (r.code !== 0) throw new Error(`adding user ${user} on ${name}: ${r.stderr}`);
      },
      async kill(name) {
        await killHost(byName(name));
      },
      async revive(name) {
        const h = byName(name);
        if (h.pid) throw new Error(`SSH host ${name} is up: kill it before reviving it`);
        await rm(join(h.root, 'run'), { recursive: true, force: true });
        await mkdir(join(h.root, 'run'));
        await startSshd(h);
        for (const unit of await enabledUnits(h)) await exec(name, `systemctl start ${unit}`);
      },
      down,
    };
  } catch (e) {
    await down().catch(() => undefined);
    throw e;
  }
}
