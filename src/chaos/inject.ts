import { spawn, type ChildProcess } from 'node:child_process';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { hangApiserver, resumeApiservers } from '../local/api-hang.js';
import { readState } from '../local/box-state.js';
import { boxFiles } from '../local/credentials.js';
import { killController, killModule, reviveModule } from '../local/failure-injection.js';
import { setClockOffset } from '../local/module-clock.js';
import { healModules, isolateModule, partitionModules } from '../local/partition.js';
import { signalProcesses, type ProcessRef } from '../local/processes.js';
import { silent } from '../local/progress.js';
import { ensureControllers, killAgent, restartAgent } from '../local/self-healing.js';
import { readServerRecord } from '../local/server-layout.js';
import type { Fault } from './faults.js';

/**
 * The injector: puts one fault of the menu (faults.ts) in place on a running box, through the
 * local box's own failure injection (src/local), and says what it did: the modules that stop
 * renewing their node while it holds (dead, or cut off from the API), which the checker's
 * false-fence invariant is judged against. `lift` undoes it.
 */

export interface Injected {
  /** The targets as resolved (the controller leader's identity in place of LEADER). */
  targets: string[];
  notRenewing: string[];
  detail?: string;
  /** Clock faults: the target's wall clock is the host's plus this (ms) until the lift. */
  clockOffsetMs?: number;
  lift(): Promise<void>;
}

export interface InjectContext {
  dir: string;
  /** How many controllers the box runs (started again after a controller kill). */
  controllers: number;
}

const LEADER_LEASE = { namespace: SYSTEM_NAMESPACE, name: 'edgebox-controller' };

/** The controller holding the leader Lease now. */
export async function controllerLeader(dir: string): Promise<string | undefined> {
  const lease = await loadKubeConfig({ path: boxFiles(dir).kubeconfig })
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease(LEADER_LEASE)
    .catch(() => undefined);
  return lease?.spec?.holderIdentity || undefined;
}

async function agentOf(dir: string, module: string): Promise<ProcessRef[]> {
  const agent = (await readState(dir))?.agents?.find((a) => a.module === module);
  return agent ? [agent] : [];
}

/** On the K3s engine etcd and the API server are one process, K3s's: either is that one. */
async function serverProcess(dir: string, module: string, which: 'etcd' | 'apiserver'): Promise<ProcessRef[]> {
  const r = await readServerRecord(dir, module);
  const p = r[which] ?? r.k3s;
  return p ? [p] : [];
}

/** SIGSTOP now, SIGCONT at lift: the process keeps its sockets, and answers nothing meanwhile. */
async function freeze(procs: ProcessRef[], what: string): Promise<Omit<Injected, 'targets' | 'notRenewing'>> {
  if (procs.length === 0) return { detail: `no ${what} running: nothing frozen`, lift: async () => {} };
  await signalProcesses(procs, 'SIGSTOP');
  return { detail: `pid ${procs.map((p) => p.pid).join(',')}`, lift: () => signalProcesses(procs, 'SIGCONT') };
}

/** Every fdatasync of `pid` (all threads) waits `delayUs` first, until the strace is stopped. */
async function slowFsync(pid: number, delayUs: number): Promise<ChildProcess> {
  const strace = spawn(
    'strace',
    ['-f', '-qq', '-p', String(pid), '-e', 'trace=fdatasync', '-e', `inject=fdatasync:delay_enter=${delayUs}`, '-o', '/dev/null'],
    {
      stdio: 'ignore',
    },
  );
  await new Promise<void>((done, fail) => {
    strace.once('error', fail);
    // Attached within a moment; an early exit means it could not attach.
    const t = setTimeout(done, 300);
    strace.once('exit', (code) => {
      clearTimeout(t);
      fail(new Error(`strace -p ${pid} exited with ${code}`));
    });
  });
  return strace;
}

async function stopStrace(strace: ChildProcess): Promise<void> {
  if (strace.exitCode !== null || strace.signalCode !== null) return;
  const exited = new Promise((done) => strace.once('exit', done));
  strace.kill('SIGTERM');
  await exited;
}

export async function inject(f: Fault, ctx: InjectContext): Promise<Injected> {
  const { dir } = ctx;
  const [target] = f.targets as [string];
  const lead = async () => {
    const id = await controllerLeader(dir);
    if (id) await killController(dir, id);
    return id ?? 'none';
  };
  const controllersBack = async () => void (await ensureControllers(dir, ctx.controllers, silent));
  switch (f.kind) {
    case 'module-kill':
      await killModule(dir, target);
      return { targets: f.targets, notRenewing: [target], lift: async () => void (await reviveModule(dir, target)) };
    case 'agent-restart': {
      const state = (await readState(dir))!;
      await killAgent(state, target);
      // The kubelet (KWOK) renews on: the module is alive.
      return { targets: f.targets, notRenewing: [], lift: () => restartAgent(dir, target) };
    }
    case 'freeze-agent':
      return { targets: f.targets, notRenewing: [], ...(await freeze(await agentOf(dir, target), `agent of ${target}`)) };
    case 'freeze-etcd':
      return { targets: f.targets, notRenewing: [], ...(await freeze(await serverProcess(dir, target, 'etcd'), `etcd on ${target}`)) };
    case 'freeze-apiserver':
      return { targets: f.targets, notRenewing: [], ...(await freeze(await serverProcess(dir, target, 'apiserver'), `API server on ${target}`)) };
    case 'partition-peer':
    case 'partition-minority':
    case 'partition-majority':
    case 'partition-one-way': {
      const change = await partitionModules(dir, f.targets, { ...(f.peers ? { from: f.peers } : {}), oneWay: f.kind === 'partition-one-way' });
      return {
        targets: f.targets,
        notRenewing: change.offApi,
        detail: `off the API: ${change.offApi.join(', ') || 'none'}`,
        lift: async () => void (await healModules(dir)),
      };
    }
    case 'isolate': {
      const change = await isolateModule(dir, target);
      return { targets: f.targets, notRenewing: change.offApi, lift: async () => void (await healModules(dir)) };
    }
    case 'clock-ahead':
    case 'clock-behind': {
      // Behind by less than the box's age: certificates' NotBefore is the box's start.
      const state = (await readState(dir))!;
      const age = Date.now() - Date.parse(state.startedAt);
      const offset = Math.max(f.param ?? 0, -(age - 5000));
      await setClockOffset(dir, target, offset);
      return { targets: f.targets, notRenewing: [], detail: `offset ${offset} ms`, clockOffsetMs: offset, lift: () => setClockOffset(dir, target, 0) };
    }
    case 'slow-disk': {
      const [etcd] = await serverProcess(dir, target, 'etcd');
      if (!etcd) return { targets: f.targets, notRenewing: [], detail: `no etcd on ${target}: nothing slowed`, lift: async () => {} };
      const strace = await slowFsync(etcd.pid, f.param ?? 50_000);
      return { targets: f.targets, notRenewing: [], detail: `strace pid ${strace.pid}`, lift: () => stopStrace(strace) };
    }
    case 'api-hang':
      await hangApiserver(dir, target);
      return { targets: f.targets, notRenewing: [], lift: () => resumeApiservers(dir) };
    case 'controller-leader-kill': {
      const id = await lead();
      return { targets: [id], notRenewing: [], lift: controllersBack };
    }
    case 'server-and-leader-kill': {
      const [, id] = await Promise.all([killModule(dir, target), lead()]);
      return {
        targets: [target, id],
        notRenewing: [target],
        lift: async () => {
          await Promise.all([reviveModule(dir, target), controllersBack()]);
        },
      };
    }
  }
}
