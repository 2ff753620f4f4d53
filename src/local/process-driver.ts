import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { failure } from '../diagnostics/diagnostic.js';
import { healthy } from './health.js';
import { isRunning, sleep, spawnDetached, stopProcesses } from './processes.js';
import { joinModuleCgroup } from './module-cgroup.js';
import { moduleDir, readLayoutSource, readServerRecord, serverLayout, writeServerRecord, type ServerProcess, type ServerRecord } from './server-layout.js';
import type { Log } from '../base/log.js';
import type { ControlPlaneReport, JoinTarget, MemberInfo, RoleDriver } from '../contract/role-driver.js';
import { alreadyVoter, learnerNotReady, etcdGateway, type EtcdGateway, type EtcdMembership } from '../agent/role/etcd-gateway.js';
import {
  apiserverArgs,
  apiserverUrl,
  etcdArgs,
  etcdClientUrl,
  etcdPeerUrl,
  initialCluster,
  ownMember,
  type EtcdStart,
  type ServerLayout,
} from './process-plan.js';

/**
 * The `process` role driver (docs/decisions/0002-control-plane.md): in a local box the agent runs
 * its module's etcd member and kube-apiserver itself, on the module's loopback address, and
 * changes membership with real etcd calls (member add as learner, promote, remove). The processes
 * are detached and recorded in `<box dir>/modules/<module>/control-plane.json`: like a K3s server
 * they outlive an agent crash, and a restarted agent (or `local down`) finds them there.
 */

export interface ProcessDriverOptions {
  /** The local box's directory (its state.json says ports, binaries and timings). */
  dir: string;
  module: string;
  log?: Log;
  /** How long each start may take on a busy 2-core machine. Defaults: etcd 60 s, API server 180 s, promotion 120 s. */
  timeouts?: { etcdMs?: number; apiserverMs?: number; promoteMs?: number };
}

const DEFAULT_TIMEOUTS = { etcdMs: 60_000, apiserverMs: 180_000, promoteMs: 120_000 };
/** How often a start-up or a learner's catching up is polled. */
const POLL_MS = 250;

const gateway = (endpoint: string): EtcdGateway & EtcdMembership => etcdGateway({ endpoint, timeoutMs: 3000 });

const alive = (p: ServerProcess | undefined): Promise<boolean> => (p ? isRunning(p.pid, p.bin) : Promise.resolve(false));

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** A member's data: etcd writes `member/` under the data dir once it has started. */
export const hasMemberData = (l: ServerLayout): Promise<boolean> => exists(join(l.dataDir, 'member'));

async function logTail(file: string, lines = 8): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function until(what: string, proc: ServerProcess, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await alive(proc))) {
      throw failure('role.process-exited', `${what} exited during start-up; last lines of ${proc.log}:\n${await logTail(proc.log)}`, `read ${proc.log}`);
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      throw failure(
        'role.start-timeout',
        `${what} did not come up within ${Math.round(timeoutMs / 1000)} s; last lines of ${proc.log}:\n${await logTail(proc.log)}`,
        `read ${proc.log}`,
      );
    }
    await sleep(POLL_MS);
  }
}

async function launch(dir: string, l: ServerLayout, which: 'etcd' | 'apiserver', args: string[]): Promise<ServerProcess> {
  const log = l.logs[which];
  await mkdir(dirname(log), { recursive: true });
  await mkdir(moduleDir(dir, l.module), { recursive: true });
  const pid = spawnDetached({ bin: l.bin[which], args, log, cwd: moduleDir(dir, l.module) });
  // Also when the agent starts it (and so it is born there): `up` and `revive` start members too.
  joinModuleCgroup(dir, l.module, pid);
  const proc = { pid, bin: l.bin[which], log };
  // Recorded before anything waits on it, so `down` stops a process that hangs in start-up.
  const record = await readServerRecord(dir, l.module);
  await writeServerRecord(dir, l.module, { ...record, [which]: proc });
  return proc;
}

/** Starts the module's etcd member (`local up` for the first servers; the driver for the rest). */
export function launchEtcd(dir: string, l: ServerLayout, start: EtcdStart): Promise<ServerProcess> {
  return launch(dir, l, 'etcd', etcdArgs(l, start));
}

/** Until the member answers its status (it need not have a leader: a restarted member waits for its peers). */
export function awaitEtcdAnswers(l: ServerLayout, proc: ServerProcess, timeoutMs = DEFAULT_TIMEOUTS.etcdMs): Promise<void> {
  const own = gateway(etcdClientUrl(l));
  return until(`etcd of ${l.module}`, proc, timeoutMs, () =>
    own.status().then(
      () => true,
      () => false,
    ),
  );
}

/** Until the member follows a leader: the cluster it is in has quorum. */
export function awaitEtcdLeader(l: ServerLayout, proc: ServerProcess, timeoutMs = DEFAULT_TIMEOUTS.etcdMs): Promise<void> {
  const own = gateway(etcdClientUrl(l));
  return until(`etcd of ${l.module}`, proc, timeoutMs, () =>
    own.status().then(
      (s) => s.leaderId !== undefined,
      () => false,
    ),
  );
}

export function launchApiserver(dir: string, l: ServerLayout): Promise<ServerProcess> {
  return launch(dir, l, 'apiserver', apiserverArgs(l));
}

export async function awaitApiserverReady(l: ServerLayout, proc: ServerProcess, timeoutMs = DEFAULT_TIMEOUTS.apiserverMs): Promise<void> {
  const token = (await readFile(l.pki.tokenFile, 'utf8')).split(',')[0] ?? '';
  await until(`kube-apiserver of ${l.module}`, proc, timeoutMs, () => healthy({ url: `${apiserverUrl(l)}/readyz`, caFile: l.pki.ca, auth: true }, token));
}

/** The module's member processes that still run (for `down`, `kill` and `status`). */
export async function runningServerProcesses(record: ServerRecord): Promise<ServerProcess[]> {
  const out: ServerProcess[] = [];
  // API server first: stopped before its etcd, it shuts down cleanly.
  for (const p of [record.apiserver, record.etcd, record.k3s]) if (p && (await alive(p))) out.push(p);
  return out;
}

export function createProcessDriver(o: ProcessDriverOptions): RoleDriver {
  const log: Log = o.log ?? (() => {});
  const timeouts = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
  let cached: ServerLayout | undefined;
  const layout = async () => (cached ??= serverLayout(await readLayoutSource(o.dir), o.module));

  const stopAll = async () => {
    await stopProcesses(await runningServerProcesses(await readServerRecord(o.dir, o.module)), 5000);
    await writeServerRecord(o.dir, o.module, {});
  };

  /** Starts the API server unless it runs; waits for it to be ready when asked. */
  const ensureApiserver = async (l: ServerLayout, wait: boolean) => {
    const record = await readServerRecord(o.dir, o.module);
    if (await alive(record.apiserver)) return;
    const proc = await launchApiserver(o.dir, l);
    log('info', 'kube-apiserver started', { pid: proc.pid, url: apiserverUrl(l) });
    if (wait) await awaitApiserverReady(l, proc, timeouts.apiserverMs);
  };

  /** Learner -> voter, on a voting member: retried while etcd says the learner has not caught up. */
  const promoteLearner = async (id: string, endpoints: readonly string[]) => {
    const deadline = Date.now() + timeouts.promoteMs;
    let last = '';
    for (;;) {
      for (const endpoint of endpoints) {
        try {
          await gateway(endpoint).memberPromote(id);
          log('info', 'learner promoted to voter', { memberId: id, via: endpoint });
          return;
        } catch (e) {
          last = (e as Error).message;
          // Promoted already (a retry after a lost answer): done.
          if (alreadyVoter(last)) return;
          if (learnerNotReady(last)) break;
        }
      }
      if (Date.now() > deadline) {
        throw failure(
          'role.promote-timeout',
          `the learner ${o.module} (${id}) was not promoted within ${Math.round(timeouts.promoteMs / 1000)} s: ${last}`,
          'see its etcd log; the guardian retries the promotion',
        );
      }
      await sleep(500);
    }
  };

  /** The member list through the first endpoint that answers. */
  const clusterVia = async (endpoints: readonly string[]) => {
    let last = '';
    for (const endpoint of endpoints) {
      const g = gateway(endpoint);
      try {
        return { endpoint, g, members: await g.memberList() };
      } catch (e) {
        last = (e as Error).message;
      }
    }
    throw failure(
      'role.no-cluster',
      `no etcd member answers at ${endpoints.join(', ') || '(none given)'}: ${last}`,
      'the promotion is retried once a healthy server is reported',
    );
  };

  const join = async (l: ServerLayout, target: JoinTarget) => {
    const endpoints = target.etcdEndpoints.filter((e) => e !== etcdClientUrl(l));
    const cluster = await clusterVia(endpoints);
    let members: MemberInfo[] = cluster.members;
    let me = ownMember(members, l);
    if (me && me.name !== '') {
      // A member of ours that started before and whose data or process is gone: a fresh learner
      // replaces it, so the cluster never waits for an entry that cannot catch up.
      log('warn', 'replacing a stale member of this module', { memberId: me.id });
      members = await cluster.g.memberRemove(me.id);
      me = undefined;
    }
    if (!me) {
      const added = await cluster.g.memberAdd([etcdPeerUrl(l)], { learner: true });
      me = added.member;
      members = added.members;
      log('info', 'member added as learner', { memberId: me.id, via: cluster.endpoint });
    }
    await rm(l.dataDir, { recursive: true, force: true });
    const proc = await launchEtcd(o.dir, l, { initialCluster: initialCluster(members, { id: me.id, name: o.module }), state: 'existing' });
    log('info', 'etcd started as learner', { pid: proc.pid });
    await awaitEtcdAnswers(l, proc, timeouts.etcdMs);
    await promoteLearner(me.id, endpoints);
    await awaitEtcdLeader(l, proc, timeouts.etcdMs);
  };

  return {
    name: 'process',

    async observe(): Promise<ControlPlaneReport> {
      const l = await layout();
      const record = await readServerRecord(o.dir, o.module);
      const [etcdUp, apiUp, data] = await Promise.all([alive(record.etcd), alive(record.apiserver), hasMemberData(l)]);
      const role = data || etcdUp ? 'server' : 'agent';
      if (!etcdUp) {
        return { role, running: false, healthy: false, ...(data ? { message: 'member stopped (its data is kept)' } : {}) };
      }
      const own = gateway(etcdClientUrl(l));
      try {
        const [status, members] = await Promise.all([own.status(), own.memberList()]);
        const leader = members.find((m) => m.id === status.leaderId)?.name;
        const healthy = status.leaderId !== undefined && !status.isLearner && apiUp;
        const message = status.isLearner
          ? 'learner: catching up before its promotion'
          : status.leaderId === undefined
            ? 'no etcd leader: the cluster has no quorum'
            : !apiUp
              ? 'kube-apiserver is not running'
              : undefined;
        return {
          role: 'server',
          running: apiUp,
          healthy,
          memberId: status.memberId,
          ...(leader ? { leader } : {}),
          raftIndex: status.raftIndex,
          revision: status.revision,
          members,
          ...(message ? { message } : {}),
        };
      } catch (e) {
        return { role: 'server', running: apiUp, healthy: false, message: `etcd does not answer: ${(e as Error).message}` };
      }
    },

    async promote(target: JoinTarget): Promise<void> {
      const l = await layout();
      const record = await readServerRecord(o.dir, o.module);
      const status = (await alive(record.etcd))
        ? await gateway(etcdClientUrl(l))
            .status()
            .catch(() => undefined)
        : undefined;
      if (status?.isLearner) {
        await promoteLearner(
          status.memberId,
          target.etcdEndpoints.filter((e) => e !== etcdClientUrl(l)),
        );
      } else if (status && status.leaderId === undefined) {
        // A voter already, in a cluster without quorum: nothing a promotion can do (quorum-loss recovery's case).
        throw failure('role.no-quorum', `${o.module} is a voter of a cluster with no leader`, 'the quorum-loss recovery of the agents decides');
      } else if (!status) {
        if (record.etcd) await stopAll();
        await join(l, target);
      }
      await ensureApiserver(l, true);
    },

    async demote(): Promise<void> {
      const l = await layout();
      await stopAll();
      await rm(l.dataDir, { recursive: true, force: true });
      log('info', 'demoted: member stopped and its data discarded');
    },

    async removeMember(member: { name: string; id?: string }): Promise<void> {
      const l = await layout();
      const own = gateway(etcdClientUrl(l));
      const found = (await own.memberList()).find((m) => (member.id !== undefined ? m.id === member.id : m.name === member.name));
      if (!found) return;
      try {
        await own.memberRemove(found.id);
        log('info', 'member removed', { member: found.name, memberId: found.id });
      } catch (e) {
        // Another agent removed it between the list and the call.
        if (!/member not found/i.test((e as Error).message)) throw e;
      }
    },

    async restart(): Promise<void> {
      const l = await layout();
      if (!(await hasMemberData(l))) {
        throw failure('role.no-member-data', `${o.module} has no etcd data to restart from`, 'promote the module instead (it joins as a learner)');
      }
      const record = await readServerRecord(o.dir, o.module);
      if (!(await alive(record.etcd))) {
        // With data in the data dir etcd ignores the initial cluster; it must still name this member.
        const proc = await launchEtcd(o.dir, l, { initialCluster: `${o.module}=${etcdPeerUrl(l)}`, state: 'existing' });
        log('info', 'etcd restarted on its data', { pid: proc.pid });
        await awaitEtcdAnswers(l, proc, timeouts.etcdMs);
      }
      // Not waited for: without quorum it cannot become ready, and the role loop checks again.
      await ensureApiserver(l, false);
    },

    async resetCluster(): Promise<void> {
      const l = await layout();
      if (!(await hasMemberData(l))) {
        throw failure('role.no-member-data', `${o.module} has no etcd data to reset the cluster to`, 'choose a survivor that was a voter');
      }
      await stopAll();
      const single = { initialCluster: `${o.module}=${etcdPeerUrl(l)}`, state: 'existing' as const };
      const forced = await launchEtcd(o.dir, l, { ...single, forceNewCluster: true });
      log('warn', 'etcd started with --force-new-cluster: this member is now the only voter', { pid: forced.pid });
      await awaitEtcdLeader(l, forced, timeouts.etcdMs);
      // Restarted without the flag, as etcd's disaster-recovery guide says: the flag is for one start.
      await stopAll();
      const proc = await launchEtcd(o.dir, l, single);
      await awaitEtcdLeader(l, proc, timeouts.etcdMs);
      await ensureApiserver(l, true);
    },
  };
}
