import { readFile } from 'node:fs/promises';
import { EdgeboxError, failure, inputError, type Diagnostic } from '../diagnostics/diagnostic.js';
import { EDGEBOX_VERSION } from '../render/controller.js';
import { loadSpec } from '../spec/load.js';
import { specLocator } from '../spec/locate.js';
import type { ModuleFacts } from './facts.js';
import { reachModules, type SshOptions } from './install.js';
import { managedPaths } from './plan.js';
import { sudoHint } from './preflight.js';
import { planUninstall, removeCommand, removeK3sDataCommand, type UninstallStep } from './uninstall-plan.js';
import type { SshSession } from './ssh.js';

export interface UninstallRunOptions extends SshOptions {
  specFile: string;
  modules?: string[];
  deleteSnapshots: boolean;
  deleteHistory: boolean;
  dryRun: boolean;
}

export interface UninstallReport {
  box: string;
  dryRun: boolean;
  unchanged: boolean;
  steps: { module: string; step: string; ms?: number }[];
  ms: number;
}

export function describeUninstallStep(s: UninstallStep): string {
  if (s.kind === 'stop') return `stop and disable ${s.units.join(', ')}`;
  if (s.kind === 'remove') return `remove what install wrote (${s.paths.length} paths: units, K3s, the agent and its runtime)`;
  return s.keepSnapshots ? "remove K3s's data, keeping its etcd snapshots (server/db/snapshots)" : "remove K3s's data and its snapshots";
}

/**
 * The units stop (a K3s unit's remaining processes, the pods' containers, are killed in its
 * cgroup, and what the kubelet mounted is unmounted), then the files go. Every step can run
 * again: a run cut short completes when run again.
 */
function command(s: UninstallStep): string {
  if (s.kind === 'stop')
    return [
      ...s.units.map((u) => `systemctl disable --now ${u} 2>/dev/null; systemctl kill --signal=SIGKILL ${u} 2>/dev/null`),
      'awk \'$2 ~ "^/(run/k3s|var/lib/kubelet|var/lib/rancher/k3s)" {print $2}\' /proc/self/mounts | sort -r | xargs -r umount 2>/dev/null',
      'systemctl daemon-reload 2>/dev/null',
      'true',
    ].join('; ');
  if (s.kind === 'remove') return removeCommand(s.paths);
  return removeK3sDataCommand(s.keepSnapshots);
}

export async function uninstall(o: UninstallRunOptions): Promise<UninstallReport> {
  const started = Date.now();
  const { box } = await loadSpec(o.specFile);
  const unknown = (o.modules ?? []).filter((m) => !box.spec.modules.some((x) => x.name === m));
  if (unknown.length)
    throw inputError(
      'install.unknown-module',
      `no module ${unknown.join(', ')} in box ${box.metadata.name}`,
      `name one of ${box.spec.modules.map((m) => m.name).join(', ')}`,
    );
  const sessions = new Map<string, SshSession>();
  try {
    const reach = await reachModules(box, o, sessions, managedPaths(EDGEBOX_VERSION));
    const locate = specLocator(await readFile(o.specFile, 'utf8'), o.specFile);
    const wanted = box.spec.modules.filter((m) => !o.modules || o.modules.includes(m.name));
    const problems: Diagnostic[] = [];
    wanted.forEach((m) => {
      const r = reach.get(m.name);
      if (r && !r.ok) {
        const i = box.spec.modules.indexOf(m);
        problems.push({
          code: r.failure.kind === 'auth' ? 'install.ssh-auth' : r.failure.kind === 'sudo' ? 'install.ssh-sudo' : 'install.unreachable',
          severity: 'error',
          message: `module ${m.name} (${m.address}): ${r.failure.message}`,
          hint:
            r.failure.kind === 'sudo' ? sudoHint(o.user) : 'uninstall needs every module it is asked to clean; power it on, or name the others with --module',
          path: `spec.modules[${i}]`,
          location: locate(['spec', 'modules', i]),
        });
      }
    });
    if (problems.length) throw new EdgeboxError('failure', problems);
    const facts = new Map([...reach].filter(([, r]) => r.ok).map(([m, r]) => [m, (r as { ok: true; facts: ModuleFacts }).facts]));
    const { steps, refusals } = planUninstall(box, facts, {
      ...(o.modules ? { modules: o.modules } : {}),
      deleteSnapshots: o.deleteSnapshots,
      deleteHistory: o.deleteHistory,
    });
    if (refusals.length)
      throw new EdgeboxError(
        'failure',
        refusals.map((r) => ({
          code: 'install.uninstall-refused',
          severity: 'error',
          message: r.message,
          hint: r.hint,
          location: locate(['spec', 'modules', box.spec.modules.findIndex((m) => m.name === r.module)]),
        })),
      );
    const report: UninstallReport = {
      box: box.metadata.name,
      dryRun: o.dryRun,
      unchanged: steps.length === 0,
      steps: steps.map((s) => ({ module: s.module, step: describeUninstallStep(s) })),
      ms: 0,
    };
    if (o.dryRun || steps.length === 0) return { ...report, ms: Date.now() - started };
    // Every module's agent first, side by side, so no agent starts K3s again while another module is taken down.
    const done: UninstallReport['steps'] = [];
    const run = async (s: UninstallStep) => {
      const start = Date.now();
      o.progress(`[${s.module}] ${describeUninstallStep(s)}`);
      const r = await sessions.get(s.module)!.exec(command(s), { timeoutMs: 300_000 });
      if (r.code !== 0)
        throw failure(
          'install.step-failed',
          `${s.module}: ${describeUninstallStep(s)} failed (exit ${r.code}): ${r.stderr.trim().slice(-400)}`,
          'fix the cause on the module, then run uninstall again',
        );
      done.push({ module: s.module, step: describeUninstallStep(s), ms: Date.now() - start });
    };
    await Promise.all(steps.filter((s) => s.kind === 'stop').map(run));
    await Promise.all(
      [...new Set(steps.map((s) => s.module))].map(async (m) => {
        for (const s of steps.filter((x) => x.module === m && x.kind !== 'stop')) await run(s);
      }),
    );
    return { ...report, steps: done, ms: Date.now() - started };
  } finally {
    for (const s of sessions.values()) s.close();
  }
}
