import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { failure, inputError, type EdgeboxError } from '../../diagnostics/diagnostic.js';
import { API_PORT, joinUrl, renderK3sConfig } from '../../render/k3s-config.js';
import type { BoxSpec } from '../../spec/schema.js';
import { apiError, updateWithRetry, type ApiClient, type ApiResponse } from '../api/client.js';
import { hostRunner, type CommandRunner } from './command-runner.js';
import type { ControlPlaneReport, JoinTarget, MemberInfo, RoleDriver } from '../../contract/role-driver.js';
import { K3S_REMOVE_ANNOTATION } from '../../contract/control-plane.js';
import { alreadyVoter, etcdGateway, learnerNotReady, type EtcdGateway, type EtcdMembership, type EtcdStatus } from './etcd-gateway.js';
import {
  ETCD_ROLE_LABEL,
  ETCD_TLS_DIR,
  isUp,
  K3S_ETCD_ENDPOINT,
  nodeOfMember,
  parseUnitStates,
  planDemote,
  planPromote,
  planReset,
  planRestart,
  REMOVED_NODE_NAME_ANNOTATION,
  RESET_FLAG,
  SERVER_UNIT,
  AGENT_UNIT,
  SHOW_UNITS,
  snapshotSteps,
  type HostState,
  type MemberState,
  type Plan,
  type Step,
} from './k3s-plan.js';

export interface K3sDriverOptions {
  /** The module this agent runs on (its Node has the same name: render sets `node-name`). */
  module: string;
  /** Every module of the box with its address (the agent's config: itself and its peers). */
  modules: { name: string; address: string }[];
  /**
   * The box spec, read when a config is first rendered: validating it loads the schema library
   * (about 14 MB), which the agent keeps out of its resident memory until a role change needs it.
   */
  loadBox: () => Promise<BoxSpec>;
  /** Default: the real host (child_process, filesystem). */
  runner?: CommandRunner;
  /** Default: K3s's embedded etcd's HTTP gateway on 127.0.0.1:2382 with the client certificate of its data dir. */
  etcd?: EtcdGateway & Pick<EtcdMembership, 'memberPromote'>;
  /** The API, for member removal (a Node annotation). Without it removeMember fails with a hint. */
  api?: Pick<ApiClient, 'request'>;
  /**
   * `server:` a demoted module's agent joins through. Default: joinUrl(box): the API virtual
   * address if the spec has one (recommended: it never points at a dead server), else the
   * first initial server.
   */
  agentJoinUrl?: string;
  /** Default: a real timer. Tests pass one that returns at once. */
  sleep?: (ms: number) => Promise<void>;
  /** Default: Date.now. */
  now?: () => number;
  /** Between two looks while waiting for K3s. Default 2000 ms. */
  pollMs?: number;
  /**
   * How long observe trusts its last `systemctl show` while the module is settled (an agent, or a
   * healthy server). Default 30 s. A report that is not settled always looks again, and every
   * change the driver makes forgets the last look.
   */
  unitsMaxAgeMs?: number;
  /**
   * How long each change may take before it is reported as failed. Defaults: promote 300 s (a
   * learner copies the whole keyspace, and K3s checks learners every 15 s), demote 120 s,
   * removal 90 s (K3s gives its own removal 60 s), reset 300 s.
   */
  timeouts?: Partial<Record<'promoteMs' | 'demoteMs' | 'removeMs' | 'resetMs', number>>;
}

/** Reads K3s's etcd client certificate at each request: it exists only once K3s served here. */
async function k3sEtcdTls() {
  const read = (file: string) => readFile(`${ETCD_TLS_DIR}/${file}`);
  const [ca, cert, key] = await Promise.all([read('server-ca.crt'), read('client.crt'), read('client.key')]);
  return { ca, cert, key };
}

/**
 * The production role driver: a real K3s module, switched between the `k3s-agent` and `k3s`
 * units of the K3s install script, with K3s doing the etcd work it already does (learner join and
 * promotion, member removal on a Node annotation, `--cluster-reset`). Every command goes through
 * the runner; docs/runbooks/control-plane.md is the same sequence for a person.
 */
export function createK3sDriver(opts: K3sDriverOptions): RoleDriver {
  const runner = opts.runner ?? hostRunner();
  const etcd = opts.etcd ?? etcdGateway({ endpoint: K3S_ETCD_ENDPOINT, tls: k3sEtcdTls });
  const sleep = opts.sleep ?? ((ms: number) => delay(ms));
  const now = opts.now ?? Date.now;
  const pollMs = opts.pollMs ?? 2000;
  const unitsMaxAgeMs = opts.unitsMaxAgeMs ?? 30_000;
  const timeouts = { promoteMs: 300_000, demoteMs: 120_000, removeMs: 90_000, resetMs: 300_000, ...opts.timeouts };
  const addressOf = new Map(opts.modules.map((x) => [x.address, x.name]));
  const moduleNames = new Set(opts.modules.map((x) => x.name));

  /**
   * A member is named after its node (nodeOfMember); a learner that has not started yet has no
   * name, only its peer URL. Reports use the module's name.
   */
  const moduleOf = (member: MemberInfo): MemberInfo => {
    const stripped = nodeOfMember(member.name);
    if (moduleNames.has(stripped)) return { ...member, name: stripped };
    for (const url of member.peerURLs) {
      const host = URL.canParse(url) ? new URL(url).hostname.replace(/^\[|\]$/g, '') : '';
      const byAddress = addressOf.get(host);
      if (byAddress) return { ...member, name: byAddress };
    }
    return member;
  };

  async function hostState(what: string): Promise<HostState> {
    const r = await runner.run(SHOW_UNITS);
    if (r.code !== 0) {
      throw failure(
        'k3s.systemctl-failed',
        `${what}: \`${SHOW_UNITS.join(' ')}\` exited with ${r.code}${tail(r.stderr)}`,
        'the agent needs systemd and permission to query it; run the command by hand to see why it fails',
      );
    }
    return parseUnitStates(r.stdout);
  }

  /** The local member as etcd describes it, or why it cannot. */
  async function readEtcd(): Promise<{ status: EtcdStatus; members: MemberInfo[] } | { error: string }> {
    try {
      const [status, members] = await Promise.all([etcd.status(), etcd.memberList()]);
      return { status, members: members.map(moduleOf) };
    } catch (e) {
      return { error: `etcd on ${K3S_ETCD_ENDPOINT} does not answer: ${(e as Error).message}` };
    }
  }

  function memberState(e: Awaited<ReturnType<typeof readEtcd>>): MemberState {
    if ('error' in e) return 'none';
    const self = e.members.find((x) => x.id === e.status.memberId);
    if (!self) return 'none';
    return self.learner || e.status.isLearner ? 'learner' : 'voter';
  }

  /**
   * The last `systemctl show` observe made. The role loop observes every second or two, and a
   * `systemctl show` each time (a process spawned, a D-Bus call) cost an idle agent about 0.5 % of
   * a core, as much as its heartbeats. The units change only when this driver changes them (it
   * forgets the look then) or when K3s stops (its etcd stops answering: not settled, looked at
   * again), so a settled module trusts it for `unitsMaxAgeMs`; a person's own systemctl shows
   * within that age.
   */
  let units: { at: number; host: HostState } | undefined;
  /**
   * Changes under way (execute), and a count of their starts and ends. A look at the units taken
   * while a change runs, or begun before one started or ended, is not kept: it may show the
   * module as it was (the role loop observes every second while its own promotion runs, so a
   * look during the promotion's snapshot saw an agent, and that look, trusted as settled, hid the
   * new voter for `unitsMaxAgeMs`: seen on real K3s, a promotion reported 18 s after its member
   * served).
   */
  let changing = 0;
  let changes = 0;

  async function observe(): Promise<ControlPlaneReport> {
    const last = units !== undefined && now() - units.at < unitsMaxAgeMs ? units.host : undefined;
    const report = last ? await observeOn(last) : undefined;
    if (report && (report.role === 'agent' || report.healthy)) return report;
    const before = changes;
    let host: HostState;
    try {
      host = await hostState('observe');
    } catch (e) {
      units = undefined;
      return { role: 'agent', running: false, healthy: false, message: (e as Error).message };
    }
    units = changing === 0 && changes === before ? { at: now(), host } : undefined;
    // Units as they were: etcd was just read on them (an etcd that does not answer takes its
    // timeout, which a second read would double).
    return report && JSON.stringify(host) === JSON.stringify(last) ? report : observeOn(host);
  }

  async function observeOn(host: HostState): Promise<ControlPlaneReport> {
    // A module whose k3s unit is enabled is a server even while that unit is down: it restarts as one.
    if (!isUp(host.server) && !host.server.enabled) {
      return { role: 'agent', running: false, healthy: false, message: `${AGENT_UNIT} is ${host.agent.loaded ? host.agent.active : 'not installed'}` };
    }
    // Running includes `activating`: K3s's unit is Type=notify, so a server that is starting (10-20 s,
    // longer while it waits for its etcd peers) is `activating`; taking it for stopped made the role
    // loop restart it again and again, each restart killing the start before (seen on real K3s).
    const running = isUp(host.server);
    const e = await readEtcd();
    if ('error' in e) return { role: 'server', running, healthy: false, message: running ? e.error : `${SERVER_UNIT} is ${host.server.active}` };
    const self = e.members.find((x) => x.id === e.status.memberId);
    const leader = e.status.leaderId ? e.members.find((x) => x.id === e.status.leaderId)?.name : undefined;
    const learner = e.status.isLearner || self?.learner === true;
    const message = !self
      ? 'not in its own member list: it was removed from the cluster'
      : learner
        ? "joining: an etcd learner until K3s's leader promotes it (checked every 15 s once it is in sync)"
        : !e.status.leaderId
          ? 'etcd has no leader: quorum is lost or the cluster is electing one'
          : !running
            ? `${SERVER_UNIT} is ${host.server.active}`
            : undefined;
    return {
      role: 'server',
      running,
      healthy: running && !!self && !learner && !!e.status.leaderId,
      memberId: e.status.memberId,
      ...(leader ? { leader } : {}),
      raftIndex: e.status.raftIndex,
      revision: e.status.revision,
      members: e.members,
      ...(message ? { message } : {}),
    };
  }

  /** Runs a plan's steps in order; the first failure stops it, naming the step and what to do. */
  async function execute(plan: Plan, what: string): Promise<boolean> {
    if (plan.kind === 'refuse') throw failure(plan.code, `${what}: ${plan.message}`, plan.hint);
    if (plan.kind === 'nothing') return plan.wait;
    // Its steps change the units, even the ones before a step that fails.
    units = undefined;
    changing++;
    changes++;
    try {
      await runSteps(plan.steps, what);
    } finally {
      changing--;
      changes++;
    }
    return true;
  }

  async function runSteps(steps: readonly Step[], what: string): Promise<void> {
    for (const s of steps) {
      if (s.kind === 'write') {
        try {
          await runner.writeFile(s.path, s.content, s.mode);
        } catch (e) {
          throw failure(`k3s.${s.step}-failed`, `${what}, step ${s.step}: writing ${s.path} failed: ${(e as Error).message}`, s.hint);
        }
        continue;
      }
      const r = await runner.run(s.argv, s.timeoutMs ? { timeoutMs: s.timeoutMs } : {});
      if (r.code !== 0)
        throw failure(`k3s.${s.step}-failed`, `${what}, step ${s.step}: \`${s.argv.join(' ')}\` exited with ${r.code}${tail(r.stderr)}`, s.hint);
    }
  }

  /** Polls until `check` says done; a timeout names the last thing seen and what to do. */
  async function waitUntil(what: string, timeoutMs: number, hint: string, check: () => Promise<string | true>): Promise<void> {
    const start = now();
    for (;;) {
      const seen = await check();
      if (seen === true) return;
      if (now() - start >= timeoutMs) {
        throw failure(`k3s.${what}-timeout`, `${what} did not finish within ${Math.round(timeoutMs / 1000)} s; last seen: ${seen}`, hint);
      }
      await sleep(pollMs);
    }
  }

  /** The module's config.yaml in the given role, from the same renderer as `edgebox render`. */
  async function config(role: 'server' | 'agent' | 'cluster-init', join?: (box: BoxSpec) => string): Promise<string> {
    const box = await opts.loadBox();
    const m = box.spec.modules.find((x) => x.name === opts.module);
    if (!m)
      throw inputError('agent.unknown-module', `module '${opts.module}' is not in box '${box.metadata.name}'`, "pass --module one of the spec's module names");
    return renderK3sConfig(box, m, { role, ...(join ? { joinUrl: join(box) } : {}) });
  }

  return {
    name: 'k3s',
    observe,

    async promote(target: JoinTarget) {
      const host = await hostState('promote');
      const server = serverUrl(target.apiServer);
      const plan = planPromote(host, memberState(await readEtcd()), await config('server', () => server), { module: opts.module, server });
      if (!(await execute(plan, 'promote'))) return;
      await waitUntil(
        'promote',
        timeouts.promoteMs,
        `\`journalctl -u ${SERVER_UNIT}\` says why: "duplicate node name" means the old member of this module is still in the cluster (remove it first); "too many learner members" means another server is joining (wait)`,
        async () => {
          const r = await observe();
          return r.healthy ? true : (r.message ?? 'not healthy yet');
        },
      );
    },

    async demote() {
      const healthyVoter = (await observe()).healthy;
      const host = await hostState('demote');
      await execute(planDemote(host, await config('agent', (box) => opts.agentJoinUrl ?? joinUrl(box)), { module: opts.module, healthyVoter }), 'demote');
      await waitUntil('demote', timeouts.demoteMs, `\`journalctl -u ${AGENT_UNIT}\` says why the agent does not start`, async () => {
        const h = await hostState('demote');
        return h.agent.active === 'active' && !isUp(h.server) ? true : `${AGENT_UNIT} ${h.agent.active}, ${SERVER_UNIT} ${h.server.active}`;
      });
    },

    async removeMember(member: { name: string; id?: string }) {
      const api = opts.api;
      if (!api)
        throw failure(
          'k3s.remove-no-api',
          `removing member ${member.name}: the agent has no API client`,
          'run the agent with --kubeconfig, or annotate the Node by hand (docs/runbooks/control-plane.md, section 2)',
        );
      const isTarget = (x: MemberInfo) => x.name === member.name || (member.id !== undefined && x.id === member.id);
      const listed = async (): Promise<MemberInfo | undefined | string> => {
        const e = await readEtcd();
        return 'error' in e ? e.error : e.members.find(isTarget);
      };
      const before = await listed();
      if (typeof before === 'string')
        throw failure(
          'k3s.remove-no-etcd',
          `removing member ${member.name}: ${before}`,
          "member removal runs on a healthy server; this module's etcd must answer",
        );
      if (!before) return;

      const path = `/api/v1/nodes/${encodeURIComponent(member.name)}`;
      const got = await api.request('GET', path);
      if (got.status === 404) {
        throw failure(
          'k3s.remove-no-node',
          `member ${before.name} (${before.id}) is still in etcd but its Node ${member.name} is gone, and K3s removes members only through their Node`,
          `remove it by etcd's API: \`etcdapi cluster/member/remove '{"ID":"${BigInt(`0x${before.id}`).toString()}"}'\` (docs/runbooks/control-plane.md, section 2)`,
        );
      }
      if (got.status !== 200) throw refused(got, `GET ${path}`);
      const meta = (got.body as { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } }).metadata ?? {};
      if (!(ETCD_ROLE_LABEL in (meta.labels ?? {}))) {
        throw failure(
          'k3s.remove-not-etcd-node',
          `Node ${member.name} has no ${ETCD_ROLE_LABEL} label, so K3s ignores its removal annotation`,
          `label it (\`kubectl label node ${member.name} ${ETCD_ROLE_LABEL}=true\`) or remove the member by etcd's API (docs/runbooks/control-plane.md, section 2)`,
        );
      }
      if (meta.annotations?.[K3S_REMOVE_ANNOTATION] !== 'true') {
        // This module's server answered for the member list above: it takes the snapshot.
        await execute({ kind: 'steps', steps: snapshotSteps(`remove-${member.name}`) }, `removing member ${member.name}`);
        const res = await updateWithRetry(api, path, (node) => {
          const md = (node.metadata ?? {}) as Record<string, unknown>;
          return { ...node, metadata: { ...md, annotations: { ...(md.annotations as Record<string, string> | undefined), [K3S_REMOVE_ANNOTATION]: 'true' } } };
        });
        if (res.status !== 200) throw refused(res, `PUT ${path} (annotation ${K3S_REMOVE_ANNOTATION})`);
      }
      await waitUntil(
        'remove-member',
        timeouts.removeMs,
        `K3s's leader-elected server removes it (\`journalctl -u ${SERVER_UNIT}\` there: "removing etcd member"); once done the Node has ${REMOVED_NODE_NAME_ANNOTATION}`,
        async () => {
          const still = await listed();
          return still === undefined ? true : typeof still === 'string' ? still : `member ${still.name} (${still.id}) still listed`;
        },
      );
    },

    async promoteLearner(member: { name: string; id: string }) {
      try {
        await etcd.memberPromote(member.id);
      } catch (e) {
        const message = (e as Error).message;
        // Not caught up yet (asked again on the next look), or promoted meanwhile (by K3s's own check).
        if (learnerNotReady(message) || alreadyVoter(message) || /member not found/i.test(message)) return;
        throw failure(
          'k3s.promote-learner-failed',
          `promoting learner ${member.name || member.id}: ${message}`,
          "K3s's own learner check promotes it within 15 s; if it stays a learner, see `journalctl -u k3s` on the joining module",
        );
      }
    },

    async restart() {
      await execute(planRestart(await hostState('restart')), 'restart');
    },

    async resetCluster() {
      const host = await hostState('reset');
      const flag = await runner.run(['test', '-e', RESET_FLAG]);
      await execute(planReset(host, flag.code === 0, await config('cluster-init'), Math.floor(Date.now() / 1000)), 'reset');
      await waitUntil('reset', timeouts.resetMs, `\`journalctl -u ${SERVER_UNIT}\` says why K3s does not start on the reset data`, async () => {
        const r = await observe();
        if (r.healthy && r.members?.length === 1) return true;
        return r.message ?? `${r.members?.length ?? 0} members listed`;
      });
    },
  };
}

/** JoinTarget.apiServer may be a URL or a bare address; K3s's `server:` is a URL on port 6443. */
export function serverUrl(api: string): string {
  if (/^https:\/\//.test(api)) return api.replace(/\/+$/, '');
  return `https://${isIPv6(api) ? `[${api}]` : api}:${API_PORT}`;
}

/** An API answer member removal did not expect; a 403 says which permission the agent lacks. */
function refused(res: ApiResponse, what: string): EdgeboxError {
  if (res.status !== 403) return apiError(res, what, 'the API server');
  return failure(
    'k3s.remove-forbidden',
    `${what} was refused (HTTP 403)`,
    "an agent may update another Node only if its module and that one may serve, and only after the guardian's edgebox.dev/etcd-remove (manifests/31-edgebox-agent.yaml); else annotate the Node by hand (docs/runbooks/control-plane.md, section 2)",
  );
}

/** The last lines of a command's error output, for a message that fits a terminal. */
function tail(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
  return lines ? `: ${lines}` : '';
}
