import { access, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { etcdGateway, type EtcdGateway, type EtcdMembership } from '../../agent/role/etcd-gateway.js';
import { K3S_ETCD_PORT } from '../../agent/role/k3s-plan.js';
import { failure } from '../../diagnostics/diagnostic.js';
import { hostRunner, type CommandResult, type CommandRunner } from '../../agent/role/command-runner.js';
import { readState } from '../box-state.js';
import { readServerRecord } from '../server-layout.js';
import { isRunning, signalProcesses } from '../processes.js';
import { mayStartFlag, moduleRoots, readUnits, runK3s, runningK3s, startK3s, stopK3s, writeUnits, type K3sUnits } from './k3s-engine.js';
import { localJoinUrl, onModule } from './k3s-plan.js';
import { k3sEtcdTls } from '../member-gateway.js';

/**
 * One module of a K3s-engine local box as the `k3s` role driver and self-fence runtime see a real
 * module: the CommandRunner they are given, so they run their own command sequences, unchanged,
 * against the box's real `k3s server` processes. What a module's OS would do is played here:
 * - systemd's part: `systemctl` on the `k3s` and `k3s-agent` units (show, start, stop, restart,
 *   enable, disable, is-active, kill), with the enabled flags kept in the module's units.json; the
 *   `k3s` unit is the module's `k3s server` (startK3s); `k3s-agent` has no process here, the
 *   module's KWOK node stands for it. `systemd-run --wait ... <command>` runs the command to its end.
 *   Render's drop-in is: a start happens only while /run/edgebox/k3s-may-start exists (a boot,
 *   `local revive`, empties /run). Not played: Restart=always (a K3s that exits stays down) and
 *   Type=notify (a start never waits for READY; `show` reports `activating` until K3s logs that
 *   it is up).
 * - the module's filesystem: /etc, /var/lib/rancher/k3s and /run/edgebox in any argument or
 *   written path are the module's own (k3s-plan.ts onModule); `k3s ...` runs the box's K3s binary
 *   in the module's network and mount namespaces.
 * The commands themselves (test, rm, cp, install, k3s) are real.
 */
export function k3sModuleHost(dir: string, module: string): CommandRunner {
  const host = hostRunner();
  const roots = () => moduleRoots(dir, module);
  const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });

  async function serverState(): Promise<{ running: boolean; pid?: number; active: string }> {
    const p = (await readServerRecord(dir, module)).k3s;
    if (!p || !(await isRunning(p.pid, p.bin))) return { running: false, active: 'inactive' };
    const log = await logSince(p.log, p.logFrom ?? 0);
    // K3s logs this just before it tells systemd READY=1 (k3s pkg/cli/server/server.go).
    return { running: true, pid: p.pid, active: log.includes('k3s is up and running') ? 'active' : 'activating' };
  }

  async function systemctl(args: readonly string[]): Promise<CommandResult> {
    const state = await readState(dir);
    if (!state?.k3s) return { code: 1, stdout: '', stderr: `no K3s-engine box runs in ${dir}` };
    const flags = args.filter((a) => a.startsWith('--'));
    const [verb, ...units] = args.filter((a) => !a.startsWith('--'));
    const loaded = module in state.k3s.network.members;
    const known = (u: string) => (u === 'k3s' || u === 'k3s-agent') && loaded;
    const missing = units.find((u) => !known(u) && verb !== 'show');
    if (missing) return { code: 5, stdout: '', stderr: `Unit ${missing}.service not found.` };
    const recorded = await readUnits(dir, module);
    const server = await serverState();

    if (verb === 'show') {
      const property =
        flags
          .find((f) => f.startsWith('--property='))
          ?.slice('--property='.length)
          .split(',') ?? [];
      const valueOnly = flags.includes('--value');
      const blocks = units.map((u) => {
        const props: Record<string, string> = !known(u)
          ? { LoadState: 'not-found', ActiveState: 'inactive', UnitFileState: '', MainPID: '0' }
          : u === 'k3s'
            ? {
                LoadState: 'loaded',
                ActiveState: server.active,
                UnitFileState: recorded.server.enabled ? 'enabled' : 'disabled',
                MainPID: String(server.pid ?? 0),
              }
            : {
                LoadState: 'loaded',
                ActiveState: recorded.agent.active ? 'active' : 'inactive',
                UnitFileState: recorded.agent.enabled ? 'enabled' : 'disabled',
                MainPID: '0',
              };
        return property.map((k) => (valueOnly ? (props[k] ?? '') : `${k}=${props[k] ?? ''}`)).join('\n');
      });
      return ok(`${blocks.join('\n\n')}\n`);
    }
    const [unit] = units;
    if (!unit) return { code: 1, stdout: '', stderr: `systemctl ${verb}: no unit given` };
    if (verb === 'is-active') {
      const active = unit === 'k3s' ? server.running : recorded.agent.active;
      return { code: active ? 0 : 3, stdout: flags.includes('--quiet') ? '' : active ? 'active\n' : 'inactive\n', stderr: '' };
    }
    if (verb === 'kill') {
      const signal = (flags.find((f) => f.startsWith('--signal='))?.slice('--signal='.length) ?? 'SIGTERM') as NodeJS.Signals;
      const p = (await readServerRecord(dir, module)).k3s;
      if (unit !== 'k3s' || !p || !server.running) return ok();
      // --kill-who=main: K3s's own process, not what runs beside it (systemd's default: the whole unit).
      if (flags.includes('--kill-who=main')) process.kill(p.pid, signal);
      else await signalProcesses([p], signal);
      return ok();
    }
    const now = flags.includes('--now');
    const next: K3sUnits = structuredClone(recorded);
    const start = verb === 'start' || verb === 'restart' || (verb === 'enable' && now);
    const stop = verb === 'stop' || verb === 'restart' || (verb === 'disable' && now);
    if (verb === 'enable' || verb === 'disable') {
      if (unit === 'k3s') next.server.enabled = verb === 'enable';
      else next.agent.enabled = verb === 'enable';
    } else if (!['start', 'stop', 'restart'].includes(verb ?? '')) {
      return { code: 1, stdout: '', stderr: `systemctl ${verb}: not played by the local box` };
    }
    if (unit === 'k3s-agent') {
      if (stop) next.agent.active = false;
      if (start) next.agent.active = true;
      await writeUnits(dir, module, next);
      return ok();
    }
    await writeUnits(dir, module, next);
    if (stop) await stopK3s(state, module);
    // Render's drop-in: ConditionPathExists on the agent's flag. Unmet, systemd skips the start
    // and the unit stays inactive; the command itself succeeds.
    const allowed = await access(mayStartFlag(dir, module)).then(
      () => true,
      () => false,
    );
    if (start && allowed && !(await serverState()).running) await startK3s(state, module);
    return ok();
  }

  return {
    async run(argv, opts = {}) {
      const [cmd, ...rest] = argv;
      if (cmd === 'systemctl') return systemctl(rest);
      if (cmd === 'systemd-run') {
        // The transient unit's options, then the command it runs (waited for: --wait).
        const i = rest.findIndex((a) => !a.startsWith('--'));
        return i < 0 ? { code: 1, stdout: '', stderr: 'systemd-run: no command' } : this.run(rest.slice(i), opts);
      }
      const mapped = argv.map((a) => onModule(a, roots()));
      if (cmd === 'k3s') {
        const state = await readState(dir);
        if (!state?.k3s) return { code: 1, stdout: '', stderr: `no K3s-engine box runs in ${dir}` };
        // A server URL (`--etcd-server`) names the real box's API address: a live server of this box instead.
        const running = await runningK3s(state);
        const members = state.k3s.network.members;
        const local = mapped.slice(1).map((a) => (/^https:\/\//.test(a) ? (localJoinUrl({ configured: a, module, members, running }) ?? a) : a));
        return runK3s(state, module, local, opts.timeoutMs ?? 60_000);
      }
      return host.run(mapped, opts);
    },
    async writeFile(path, content, mode) {
      const local = onModule(path, roots());
      await mkdir(dirname(local), { recursive: true });
      await host.writeFile(local, content, mode);
    },
  };
}

/**
 * What the `k3s` role driver of a local box's module runs with (`agent run --role-driver k3s
 * --local-dir`): the module's host above, K3s's etcd gateway at the module's address (its
 * forwarder, etcd-forward-process.ts) with the client certificate of the module's data dir, and
 * the box's server-capable modules at their addresses on the box's bridge (K3s's peer URLs).
 */
export async function localK3sModule(
  dir: string,
  module: string,
): Promise<{ runner: CommandRunner; etcd: EtcdGateway & EtcdMembership; modules: { name: string; address: string }[] }> {
  const state = await readState(dir);
  if (!state?.k3s) throw failure('local.no-box', `no K3s-engine box runs in ${dir}`, 'start one with `edgebox local up <spec> --engine k3s`');
  const members = state.k3s.network.members;
  return {
    runner: k3sModuleHost(dir, module),
    etcd: etcdGateway({
      endpoint: `https://${members[module]?.address ?? '127.0.0.1'}:${K3S_ETCD_PORT}`,
      tls: () => k3sEtcdTls(dir, module),
    }),
    modules: Object.entries(members).map(([name, m]) => ({ name, address: m.address })),
  };
}

/**
 * This run's part of a K3s log: the bytes from `from` (a byte offset, the log's size when the run
 * started) on. `show` runs on every look of the role loop, and the log of a long-lived box is
 * megabytes: reading it whole each time, and slicing characters by a byte offset, was wrong twice.
 */
async function logSince(file: string, from: number): Promise<string> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return '';
  try {
    const { size } = await fh.stat();
    const buf = Buffer.alloc(Math.max(0, size - from));
    await fh.read(buf, 0, buf.length, from);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}
