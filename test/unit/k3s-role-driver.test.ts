import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostRunner, type CommandResult, type CommandRunner } from '../../src/agent/role/command-runner.js';
import type { ControlPlaneReport, MemberInfo } from '../../src/contract/role-driver.js';
import { etcdGateway, parseMemberList, parseStatus, type EtcdGateway, type EtcdStatus } from '../../src/agent/role/etcd-gateway.js';
import { createK3sDriver, serverUrl, type K3sDriverOptions } from '../../src/agent/role/k3s-driver.js';
import { parseUnitStates, RESET_FLAG, SNAPSHOT_FROM_DB, type UnitState } from '../../src/agent/role/k3s-plan.js';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { K3S_CONFIG_PATH, taintArg, TOKEN_FILE } from '../../src/render/k3s-config.js';
import { nodeLabels, nodeTaints } from '../../src/render/node-metadata.js';
import { TUNED } from '../../src/render/tuning.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { labBox } from './render-fixtures.js';

/**
 * Config keys K3s documents (docs.k3s.io/cli/server, docs.k3s.io/cli/agent): every key the
 * driver writes must be one of these for the subcommand that reads it, or K3s skips it with
 * "Unknown flag ... found in config.yaml" (k3s-io/k3s#4509).
 */
const AGENT_KEYS = ['server', 'token-file', 'node-name', 'node-ip', 'node-label', 'node-taint', 'kubelet-arg'];
const SERVER_KEYS = [...AGENT_KEYS, 'cluster-init', 'tls-san', 'kube-apiserver-arg', 'kube-controller-manager-arg', 'etcd-arg'];

const DB = '/var/lib/rancher/k3s/server/db';
/** What discarding a member's data removes: never `${DB}/snapshots`. */
const DISCARD = `rm -rf ${DB}/etcd ${DB}/etcd-tmp ${DB}/reset-flag`;
const SHOW = 'systemctl show --property=LoadState,ActiveState,UnitFileState k3s k3s-agent';
/** The snapshot a server takes of itself before a membership change (`--data-dir` so the token is its own). */
const SELF_SNAPSHOT = (why: string) => `k3s etcd-snapshot save --data-dir /var/lib/rancher/k3s --name edgebox-before-${why}`;
const CLIENT = '/run/edgebox/k3s-snapshot-client';
/** K3s starts only with this flag (render's k3s.service drop-in); the agent writes it before each start it decides. */
const ALLOW = 'write /run/edgebox/k3s-may-start 644';
const FORBID = 'rm -f /run/edgebox/k3s-may-start';

const unit = (active: string, enabled: boolean, loaded = true): UnitState => ({ loaded, active, enabled });

/**
 * A module's host as systemd sees it: the driver's commands change the two units the way
 * systemctl would, and every command and file write is logged in order.
 */
class FakeHost implements CommandRunner {
  log: string[] = [];
  files = new Map<string, string>();
  failing = new Map<string, CommandResult>();
  resetFlag = false;
  units: { k3s: UnitState; 'k3s-agent': UnitState };
  constructor(units: { k3s: UnitState; 'k3s-agent': UnitState }) {
    this.units = { k3s: { ...units.k3s }, 'k3s-agent': { ...units['k3s-agent'] } };
  }

  async run(argv: readonly string[]): Promise<CommandResult> {
    const cmd = argv.join(' ');
    this.log.push(cmd);
    // A failure set for a command also fails it with arguments added (a reset's restore path).
    const failed = [...this.failing].find(([k]) => cmd === k || cmd.startsWith(`${k} `))?.[1];
    if (failed) return failed;
    const ok = (stdout = '') => ({ code: 0, stdout, stderr: '' });
    const [a, b, c, d, e] = argv;
    if (cmd === SHOW) {
      const block = (u: UnitState) =>
        `LoadState=${u.loaded ? 'loaded' : 'not-found'}\nActiveState=${u.active}\nUnitFileState=${u.loaded ? (u.enabled ? 'enabled' : 'disabled') : ''}`;
      return ok(`${block(this.units.k3s)}\n\n${block(this.units['k3s-agent'])}\n`);
    }
    if (a === 'systemctl') {
      const name = argv[argv.length - 1] as 'k3s' | 'k3s-agent';
      const u = this.units[name];
      if (!u?.loaded) return { code: 5, stdout: '', stderr: `Unit ${name}.service not found.` };
      if (b === 'disable' && c === '--now') Object.assign(u, { enabled: false, active: 'inactive' });
      else if (b === 'enable' && c === '--now') Object.assign(u, { enabled: true, active: 'active' });
      else if (b === 'stop') u.active = 'inactive';
      else if (b === 'restart') u.active = 'active';
      return ok();
    }
    if (a === 'test' && b === '-e' && c === RESET_FLAG) return { code: this.resetFlag ? 0 : 1, stdout: '', stderr: '' };
    if (a === 'test' || a === 'rm' || a === 'cp' || a === 'mkdir' || a === 'sh' || a === 'install' || a === 'systemd-run') return ok();
    if (a === 'k3s' && b === 'etcd-snapshot' && c === 'save') return ok();
    return { code: 127, stdout: '', stderr: `unexpected command ${[a, b, c, d, e].join(' ')}` };
  }

  async writeFile(path: string, content: string, mode: number): Promise<void> {
    this.log.push(`write ${path} ${mode.toString(8)}`);
    this.files.set(path, content);
  }

  commands(): string[] {
    return this.log.filter((l) => l !== SHOW);
  }
}

/** etcd's answers, one per look; the last one repeats. A string is an etcd that does not answer. */
class FakeEtcd implements EtcdGateway {
  looks = 0;
  promoted: string[] = [];
  /** What memberPromote throws, if anything (etcd's gateway message). */
  promoteError: string | undefined;
  async memberPromote(id: string) {
    if (this.promoteError) throw new Error(this.promoteError);
    this.promoted.push(id);
    return [];
  }
  constructor(public answers: ({ status: EtcdStatus; members: MemberInfo[] } | string)[]) {}
  /** The answer of the current look: status() starts a look, memberList() reads the same one. */
  private current() {
    const a = this.answers[Math.min(Math.max(this.looks - 1, 0), this.answers.length - 1)]!;
    if (typeof a === 'string') throw new Error(a);
    return a;
  }
  async status() {
    this.looks++;
    return this.current().status;
  }
  async memberList() {
    return this.current().members;
  }
}

const member = (id: string, k3sName: string, address: string, learner = false): MemberInfo => ({
  id,
  name: k3sName,
  peerURLs: [`https://${address}:2380`],
  clientURLs: [`https://${address}:2379`],
  learner,
});
const status = (memberId: string, leaderId: string | undefined, extra: Partial<EtcdStatus> = {}): EtcdStatus => ({
  clusterId: 'c1',
  memberId,
  ...(leaderId ? { leaderId } : {}),
  raftIndex: 1200,
  raftAppliedIndex: 1200,
  revision: 900,
  isLearner: false,
  version: '3.5.13',
  ...extra,
});

const box = labBox({ apiAddress: '10.0.0.100' });
/** The cluster with s1 and s2 alive, as K3s names members (`<node>-<8 hex>`). */
const s1 = member('a1', 's1-1b2c3d4e', '10.0.0.1');
const s2 = member('b2', 's2-5f6a7b8c', '10.0.0.2');

function setup(
  units: { k3s: UnitState; 'k3s-agent': UnitState },
  answers: ConstructorParameters<typeof FakeEtcd>[0],
  extra: Partial<K3sDriverOptions> = {},
  module = 'a1',
  b: BoxSpec = box,
) {
  const host = new FakeHost(units);
  const etcd = new FakeEtcd(answers);
  let clock = 0;
  const driver = createK3sDriver({
    module,
    modules: b.spec.modules,
    loadBox: async () => b,
    runner: host,
    etcd,
    pollMs: 1000,
    sleep: async (ms) => {
      clock += ms;
    },
    now: () => clock,
    ...extra,
  });
  return { host, etcd, driver };
}

async function failureOf(p: Promise<unknown>): Promise<{ code: string; message: string; hint?: string }> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(EdgeboxError);
  const d = (e as EdgeboxError).diagnostics[0]!;
  return { code: d.code, message: d.message, ...(d.hint ? { hint: d.hint } : {}) };
}

const configAt = (host: FakeHost) => parse(host.files.get(K3S_CONFIG_PATH) ?? '', { version: '1.1' }) as Record<string, unknown>;
const AGENT_UP = { k3s: unit('inactive', false), 'k3s-agent': unit('active', true) };

describe('systemctl and etcd gateway answers', () => {
  it('reads both units from one `systemctl show`, in argument order', () => {
    const out = 'LoadState=loaded\nActiveState=activating\nUnitFileState=enabled\n\nUnitFileState=\nLoadState=not-found\nActiveState=inactive\n';
    expect(parseUnitStates(out)).toEqual({ server: unit('activating', true), agent: unit('inactive', false, false) });
  });

  it('member ids are uint64 decimal strings on the wire and hex in reports, as etcdctl prints them', () => {
    const members = parseMemberList({
      header: { cluster_id: '1', member_id: '2', raft_term: '3' },
      members: [
        { ID: '18446744073709551615', name: 's1-1b2c3d4e', peerURLs: ['https://10.0.0.1:2380'], clientURLs: ['https://10.0.0.1:2379'] },
        { ID: '255', peerURLs: ['https://10.0.0.4:2380'], isLearner: true },
      ],
    });
    expect(members).toEqual([
      { id: 'ffffffffffffffff', name: 's1-1b2c3d4e', peerURLs: ['https://10.0.0.1:2380'], clientURLs: ['https://10.0.0.1:2379'], learner: false },
      { id: 'ff', name: '', peerURLs: ['https://10.0.0.4:2380'], clientURLs: [], learner: true },
    ]);
    expect(
      parseStatus({
        header: { cluster_id: '4096', member_id: '255', revision: '77' },
        version: '3.5.13',
        leader: '16',
        raftIndex: '1200',
        raftAppliedIndex: '1199',
      }),
    ).toEqual({
      clusterId: '1000',
      memberId: 'ff',
      leaderId: '10',
      raftIndex: 1200,
      raftAppliedIndex: 1199,
      revision: 77,
      isLearner: false,
      version: '3.5.13',
    });
    expect(parseStatus({ header: { member_id: '1' } })).not.toHaveProperty('leaderId');
  });

  it.each([
    ['10.0.0.100', 'https://10.0.0.100:6443'],
    ['fd00::10', 'https://[fd00::10]:6443'],
    ['https://10.0.0.100:6443/', 'https://10.0.0.100:6443'],
  ])('the API address %s becomes server: %s', (api, url) => {
    expect(serverUrl(api)).toBe(url);
  });
});

describe('promote: agent -> server', () => {
  it('writes a joining server config, switches k3s-agent off and k3s on, then waits for a voter', async () => {
    const joining = { status: status('d4', 'a1', { isLearner: true }), members: [s1, s2, member('d4', '', '10.0.0.5', true)] };
    const voter = { status: status('d4', 'a1'), members: [s1, s2, member('d4', 'a1-9d8e7f6a', '10.0.0.5')] };
    const { host, etcd, driver } = setup(AGENT_UP, ['connect ECONNREFUSED 127.0.0.1:2382', joining, joining, voter]);
    await driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' });

    expect(host.commands()).toEqual([
      `test -s ${TOKEN_FILE}`,
      // A snapshot first, saved by the server it joins; the token reaches K3s as a 0600 file, never as an argument.
      `rm -rf ${CLIENT}`,
      `install -D -m 0600 ${TOKEN_FILE} ${CLIENT}/server/token`,
      `k3s etcd-snapshot save --data-dir ${CLIENT} --etcd-server https://10.0.0.100:6443 --name edgebox-before-promote-a1`,
      `rm -rf ${CLIENT}`,
      `write ${K3S_CONFIG_PATH} 600`,
      'systemctl disable --now k3s-agent',
      DISCARD,
      ALLOW,
      'systemctl enable --now --no-block k3s',
    ]);
    expect(etcd.looks).toBe(4);
    const c = configAt(host);
    expect(c.server).toBe('https://10.0.0.100:6443');
    expect(c['token-file']).toBe(TOKEN_FILE);
    expect(c).not.toHaveProperty('cluster-init');
    expect(Object.keys(c).every((k) => SERVER_KEYS.includes(k))).toBe(true);
    expect(c['etcd-arg']).toEqual([`heartbeat-interval=${TUNED.etcdHeartbeatMs}`, `election-timeout=${TUNED.etcdElectionTimeoutMs}`]);
    expect(c['tls-san']).toEqual(['10.0.0.100']);
    expect(c['node-name']).toBe('a1');
    expect(c['node-label']).toEqual(
      Object.entries(
        nodeLabels(
          box,
          box.spec.modules.find((m) => m.name === 'a1')!,
        ),
      ).map(([k, v]) => `${k}=${v}`),
    );
  });

  it("keeps the module's taints (an accelerator module stays tainted as a server)", async () => {
    const { host, driver } = setup(AGENT_UP, [{ status: status('d4', 'a1'), members: [s1, s2, member('d4', 'gpu-1-00aa11bb', '10.0.0.4')] }], {}, 'gpu-1');
    await driver.promote({ etcdEndpoints: [], apiServer: 'https://10.0.0.100:6443' });
    const taints = nodeTaints(
      box,
      box.spec.modules.find((m) => m.name === 'gpu-1')!,
    );
    expect(taints.length).toBeGreaterThan(0);
    expect(configAt(host)['node-taint']).toEqual(taints.map(taintArg));
  });

  it('is idempotent: a module already serving as a voter runs no switch and writes nothing', async () => {
    const { host, driver } = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [
      { status: status('d4', 'a1'), members: [s1, s2, member('d4', 'a1-9d8e7f6a', '10.0.0.5')] },
    ]);
    await driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' });
    expect(host.log).toEqual([SHOW]);
  });

  it('a module already joining (an etcd learner) is not switched again, only waited for', async () => {
    const learner = { status: status('d4', 'a1', { isLearner: true }), members: [s1, s2, member('d4', 'a1-9d8e7f6a', '10.0.0.5', true)] };
    const voter = { status: status('d4', 'a1'), members: [s1, s2, member('d4', 'a1-9d8e7f6a', '10.0.0.5')] };
    const { host, driver } = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [learner, learner, voter]);
    await driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' });
    expect(host.commands()).toEqual([]);
  });

  it('without the agent unit it skips stopping it', async () => {
    const { host, driver } = setup({ k3s: unit('inactive', false), 'k3s-agent': unit('inactive', false, false) }, [
      { status: status('d4', 'a1'), members: [s1, member('d4', 'a1-9d8e7f6a', '10.0.0.5')] },
    ]);
    await driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' });
    expect(host.commands()).not.toContain('systemctl disable --now k3s-agent');
  });

  it('refuses without a k3s unit, before touching anything', async () => {
    const { host, driver } = setup({ k3s: unit('inactive', false, false), 'k3s-agent': unit('active', true) }, ['refused']);
    const f = await failureOf(driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' }));
    expect(f.code).toBe('k3s.no-server-unit');
    expect(f.hint).toContain('INSTALL_K3S_SKIP_ENABLE=true');
    expect(host.commands()).toEqual([]);
  });

  it('refuses to wipe a running server whose etcd is silent', async () => {
    const { host, driver } = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, ['connect ECONNREFUSED']);
    expect((await failureOf(driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' }))).code).toBe('k3s.server-silent');
    expect(host.commands()).toEqual([]);
  });

  it('a failed step stops the sequence and names the step, the command and what to do', async () => {
    const { host, driver } = setup(AGENT_UP, ['refused']);
    host.failing.set('systemctl disable --now k3s-agent', { code: 1, stdout: '', stderr: 'Failed to disable unit: Access denied' });
    const f = await failureOf(driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' }));
    expect(f.code).toBe('k3s.stop-agent-failed');
    expect(f.message).toContain('`systemctl disable --now k3s-agent` exited with 1: Failed to disable unit: Access denied');
    expect(f.hint).toContain('journalctl -u k3s-agent');
    expect(host.commands().at(-1)).toBe('systemctl disable --now k3s-agent');
  });

  it('no token file: nothing is switched', async () => {
    const { host, driver } = setup(AGENT_UP, ['refused']);
    host.failing.set(`test -s ${TOKEN_FILE}`, { code: 1, stdout: '', stderr: '' });
    const f = await failureOf(driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' }));
    expect(f.code).toBe('k3s.check-token-failed');
    expect(f.hint).toContain(TOKEN_FILE);
    expect(host.commands()).toEqual([`test -s ${TOKEN_FILE}`]);
  });

  it('a member that never becomes a voter times out with what was last seen', async () => {
    const learner = { status: status('d4', 'a1', { isLearner: true }), members: [s1, s2, member('d4', 'a1-9d8e7f6a', '10.0.0.5', true)] };
    const { driver } = setup(AGENT_UP, [learner], { timeouts: { promoteMs: 10_000 } });
    const f = await failureOf(driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' }));
    expect(f.code).toBe('k3s.promote-timeout');
    expect(f.message).toContain('joining: an etcd learner');
    expect(f.hint).toContain('duplicate node name');
  });
});

describe('demote: server -> agent', () => {
  it('stops k3s, discards the etcd data, writes an agent config and starts k3s-agent', async () => {
    const { host, driver } = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, ['refused'], {}, 's3');
    await driver.demote();
    expect(host.commands()).toEqual([
      'systemctl disable --now k3s',
      FORBID,
      DISCARD,
      `write ${K3S_CONFIG_PATH} 600`,
      'systemctl enable --now --no-block k3s-agent',
    ]);
    const c = configAt(host);
    expect(Object.keys(c).every((k) => AGENT_KEYS.includes(k))).toBe(true);
    expect(c.server).toBe('https://10.0.0.100:6443');
    expect(c['node-name']).toBe('s3');
  });

  it('a healthy voter is snapshotted on itself first; a failed snapshot stops the demotion before anything changes', async () => {
    const healthy = { status: status('c3', 'a1'), members: [s1, s2, member('c3', 's3-0f1e2d3c', '10.0.0.3')] };
    const ok = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [healthy, 'refused'], {}, 's3');
    await ok.driver.demote();
    expect(ok.host.commands()).toEqual([
      SELF_SNAPSHOT('demote-s3'),
      'systemctl disable --now k3s',
      FORBID,
      DISCARD,
      `write ${K3S_CONFIG_PATH} 600`,
      'systemctl enable --now --no-block k3s-agent',
    ]);

    const failing = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [healthy], {}, 's3');
    failing.host.failing.set(SELF_SNAPSHOT('demote-s3'), { code: 1, stdout: '', stderr: 'etcdserver: request timed out' });
    const f = await failureOf(failing.driver.demote());
    expect(f.code).toBe('k3s.snapshot-failed');
    expect(f.message).toContain('etcdserver: request timed out');
    expect(failing.host.commands()).toEqual([SELF_SNAPSHOT('demote-s3')]);
  });

  it('the data is discarded before the agent starts, so it never rejoins stale', async () => {
    const { host, driver } = setup({ k3s: unit('failed', true), 'k3s-agent': unit('inactive', false) }, ['refused'], {}, 's3');
    await driver.demote();
    const c = host.commands();
    expect(c.indexOf(DISCARD)).toBeLessThan(c.indexOf('systemctl enable --now --no-block k3s-agent'));
  });

  it('already an agent: only makes sure no etcd data is left', async () => {
    const { host, driver } = setup(AGENT_UP, ['refused'], {}, 's3');
    await driver.demote();
    expect(host.commands()).toEqual([DISCARD]);
  });

  it('an agent that does not come up times out naming both units', async () => {
    const { host, driver } = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, ['refused'], { timeouts: { demoteMs: 5000 } }, 's3');
    host.failing.set(SHOW, {
      code: 0,
      stdout: 'LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n\nLoadState=loaded\nActiveState=failed\nUnitFileState=enabled\n',
      stderr: '',
    });
    const f = await failureOf(driver.demote());
    expect(f.code).toBe('k3s.demote-timeout');
    expect(f.message).toContain('k3s-agent failed');
  });
});

describe('restart and cluster reset', () => {
  it('restart: systemctl restart k3s, without waiting for a quorum that may be gone', async () => {
    const { host, driver } = setup({ k3s: unit('failed', true), 'k3s-agent': unit('inactive', false) }, ['refused'], {}, 's1');
    await driver.restart();
    // The live cluster agreed (the role loop's decision): K3s may start again until the next boot.
    // `start`: a server already starting or running is left alone (a restart killed each start before it).
    expect(host.commands()).toEqual([ALLOW, 'systemctl start --no-block k3s']);
  });

  const alone = { status: status('a1', 'a1'), members: [s1] };

  it('reset: stop k3s, drop server: from the config, k3s server --cluster-reset, start k3s, wait for a one-member cluster', async () => {
    const { host, driver } = setup(
      { k3s: unit('activating', true), 'k3s-agent': unit('inactive', false) },
      [{ status: status('a1', undefined), members: [s1, s2] }, alone],
      {},
      's1',
    );
    await driver.resetCluster();
    expect(host.commands()).toEqual([
      `test -e ${RESET_FLAG}`,
      `test -d ${DB}/etcd/member/wal`,
      'systemctl stop k3s',
      `write ${K3S_CONFIG_PATH} 600`,
      `mkdir -p ${DB}/snapshots`,
      expect.stringMatching(new RegExp(`^sh -c [\\s\\S]*sha256sum[\\s\\S]* sh ${DB}/etcd/member/snap/db ${DB}/snapshots/edgebox-before-cluster-reset-\\d+$`)),
      expect.stringMatching(
        new RegExp(
          `^systemd-run --unit=edgebox-k3s-cluster-reset --collect --wait --pipe k3s server --cluster-reset --cluster-reset-restore-path=${DB}/snapshots/edgebox-before-cluster-reset-\\d+$`,
        ),
      ),
      ALLOW,
      'systemctl enable --now --no-block k3s',
    ]);
    const c = configAt(host);
    expect(c).not.toHaveProperty('server');
    // On the command line only: in config.yaml it would make the next normal start fail on the reset-flag.
    expect(c).not.toHaveProperty('cluster-reset');
    expect(c['cluster-init']).toBe(true);
    expect(Object.keys(c).every((k) => SERVER_KEYS.includes(k))).toBe(true);
  });

  it('a reset-flag left by an earlier reset: K3s would refuse to reset again, so only the start is left', async () => {
    const { host, driver } = setup({ k3s: unit('inactive', true), 'k3s-agent': unit('inactive', false) }, [alone], {}, 's1');
    host.resetFlag = true;
    await driver.resetCluster();
    expect(host.commands().some((c) => c.includes('--cluster-reset'))).toBe(false);
    expect(host.commands().at(-1)).toBe('systemctl enable --now --no-block k3s');
  });

  it('refuses to reset a module without etcd data: that would start an empty cluster', async () => {
    const { host, driver } = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [alone], {}, 's1');
    host.failing.set(`test -d ${DB}/etcd/member/wal`, { code: 1, stdout: '', stderr: '' });
    const f = await failureOf(driver.resetCluster());
    expect(f.code).toBe('k3s.check-etcd-data-failed');
    expect(f.hint).toContain('highest raft index');
    expect(host.commands()).toEqual([`test -e ${RESET_FLAG}`, `test -d ${DB}/etcd/member/wal`]);
  });

  it('a failed reset does not start k3s', async () => {
    const { host, driver } = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [alone], {}, 's1');
    const reset = 'systemd-run --unit=edgebox-k3s-cluster-reset --collect --wait --pipe k3s server --cluster-reset';
    host.failing.set(reset, {
      code: 1,
      stdout: '',
      stderr: 'level=fatal msg="starting kubernetes: preparing server: cannot perform cluster-reset while server URL is set"',
    });
    const f = await failureOf(driver.resetCluster());
    expect(f.code).toBe('k3s.cluster-reset-failed');
    expect(f.message).toContain('cannot perform cluster-reset while server URL is set');
    expect(host.commands().at(-1)).toMatch(new RegExp(`^${reset} --cluster-reset-restore-path=`));
  });
});

describe("removeMember: K3s's own removal, through the Node annotation", () => {
  const s3 = member('c3', 's3-0f1e2d3c', '10.0.0.3');
  const nodeS3 = {
    metadata: {
      name: 's3',
      resourceVersion: '7',
      labels: { 'node-role.kubernetes.io/etcd': 'true' },
      annotations: { 'etcd.k3s.cattle.io/node-name': 's3-0f1e2d3c', other: 'kept' },
    },
  };

  function fakeApi(node: unknown, status = 200) {
    const calls: { method: string; path: string; body?: unknown }[] = [];
    return {
      calls,
      api: {
        async request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown) {
          calls.push({ method, path, ...(body ? { body } : {}) });
          return method === 'GET' ? { status, body: node } : { status: 200, body };
        },
      },
    };
  }

  it("annotates the dead server's Node etcd.k3s.cattle.io/remove=true and waits until K3s removed the member", async () => {
    const { calls, api } = fakeApi(nodeS3);
    const { driver, host } = setup(
      { k3s: unit('active', true), 'k3s-agent': unit('inactive', false) },
      [
        { status: status('a1', 'a1'), members: [s1, s2, s3] },
        { status: status('a1', 'a1'), members: [s1, s2, s3] },
        { status: status('a1', 'a1'), members: [s1, s2] },
      ],
      { api },
      's1',
    );
    await driver.removeMember({ name: 's3', id: 'c3' });
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /api/v1/nodes/s3', 'GET /api/v1/nodes/s3', 'PUT /api/v1/nodes/s3']);
    const put = calls[2]!.body as typeof nodeS3;
    expect(put.metadata.annotations).toEqual({ 'etcd.k3s.cattle.io/node-name': 's3-0f1e2d3c', other: 'kept', 'etcd.k3s.cattle.io/remove': 'true' });
    expect(put.metadata.resourceVersion).toBe('7');
    // The server doing the removal snapshots itself before asking K3s for it.
    expect(host.log).toEqual([SELF_SNAPSHOT('remove-s3')]);
  });

  it('a member already gone is not asked for again', async () => {
    const { calls, api } = fakeApi(nodeS3);
    const { driver } = setup(AGENT_UP, [{ status: status('a1', 'a1'), members: [s1, s2] }], { api }, 's1');
    await driver.removeMember({ name: 's3' });
    expect(calls).toEqual([]);
  });

  it('an annotation already set is not written twice', async () => {
    const annotated = { metadata: { ...nodeS3.metadata, annotations: { 'etcd.k3s.cattle.io/remove': 'true' } } };
    const { calls, api } = fakeApi(annotated);
    const { driver } = setup(
      AGENT_UP,
      [
        { status: status('a1', 'a1'), members: [s1, s2, s3] },
        { status: status('a1', 'a1'), members: [s1, s2] },
      ],
      { api },
      's1',
    );
    await driver.removeMember({ name: 's3' });
    expect(calls.map((c) => c.method)).toEqual(['GET']);
  });

  it.each([
    ['a Node without the etcd role label, which K3s ignores', { metadata: { name: 's3', labels: {} } }, 200, 'k3s.remove-not-etcd-node'],
    ['credentials that may not read Nodes', { kind: 'Status', message: 'nodes "s3" is forbidden' }, 403, 'k3s.remove-forbidden'],
    ['no Node at all (K3s removes members only through Nodes)', { kind: 'Status' }, 404, 'k3s.remove-no-node'],
  ])('fails with a hint for %s', async (_what, node, code, diag) => {
    const { api } = fakeApi(node, code);
    const { driver } = setup(AGENT_UP, [{ status: status('a1', 'a1'), members: [s1, s2, s3] }], { api }, 's1');
    const f = await failureOf(driver.removeMember({ name: 's3' }));
    expect(f.code).toBe(diag);
    expect(f.hint).toMatch(/runbooks\/control-plane\.md/);
  });

  it('without an API client, or with a silent etcd, it fails instead of guessing', async () => {
    expect((await failureOf(setup(AGENT_UP, [{ status: status('a1', 'a1'), members: [s1, s3] }], {}, 's1').driver.removeMember({ name: 's3' }))).code).toBe(
      'k3s.remove-no-api',
    );
    const { api } = fakeApi(nodeS3);
    expect((await failureOf(setup(AGENT_UP, ['refused'], { api }, 's1').driver.removeMember({ name: 's3' }))).code).toBe('k3s.remove-no-etcd');
  });

  it('K3s that never removes it times out with the member still listed', async () => {
    const { api } = fakeApi(nodeS3);
    const { driver } = setup(AGENT_UP, [{ status: status('a1', 'a1'), members: [s1, s2, s3] }], { api, timeouts: { removeMs: 3000 } }, 's1');
    const f = await failureOf(driver.removeMember({ name: 's3' }));
    expect(f.code).toBe('k3s.remove-member-timeout');
    expect(f.message).toContain('member s3 (c3) still listed');
  });
});

describe('promoteLearner: a healthy voter asks etcd to promote a learner at once', () => {
  const SERVER_UP = { k3s: unit('active', true), 'k3s-agent': unit('inactive', false) };

  it('promotes by member id through its own etcd, running nothing on the host', async () => {
    const { host, etcd, driver } = setup(SERVER_UP, [], {}, 's1');
    await driver.promoteLearner!({ name: 's4', id: 'd4' });
    expect(etcd.promoted).toEqual(['d4']);
    expect(host.log).toEqual([]);
  });

  it.each([
    ['a learner not caught up yet (asked again on the next look)', 'etcdserver: can only promote a learner member which is in sync with leader'],
    ["promoted meanwhile by K3s's own check", 'etcdserver: can only promote a learner member'],
    ['removed meanwhile', 'etcdserver: member not found'],
  ])('%s: no error', async (_name, message) => {
    const { etcd, driver } = setup(SERVER_UP, [], {}, 's1');
    etcd.promoteError = message;
    await expect(driver.promoteLearner!({ name: 's4', id: 'd4' })).resolves.toBeUndefined();
  });

  it('any other refusal is a failure with a hint', async () => {
    const { etcd, driver } = setup(SERVER_UP, [], {}, 's1');
    etcd.promoteError = 'etcdserver: request timed out';
    const f = await failureOf(driver.promoteLearner!({ name: 's4', id: 'd4' }));
    expect(f.code).toBe('k3s.promote-learner-failed');
    expect(f.hint).toContain('15 s');
  });
});

describe('observe never throws: it reports', () => {
  it('a healthy voter: module names from K3s member names, the leader by name, raft index and revision', async () => {
    const { driver } = setup(
      { k3s: unit('active', true), 'k3s-agent': unit('inactive', false) },
      [{ status: status('b2', 'a1'), members: [s1, s2, member('ee', '', '10.0.0.3', true)] }],
      {},
      's2',
    );
    const r = await driver.observe();
    expect(r).toMatchObject({ role: 'server', running: true, healthy: true, memberId: 'b2', leader: 's1', raftIndex: 1200, revision: 900 });
    expect(r.members?.map((m) => [m.name, m.learner])).toEqual([
      ['s1', false],
      ['s2', false],
      ['s3', true],
    ]);
    expect(r).not.toHaveProperty('message');
  });

  it.each([
    ['an agent', AGENT_UP, [{ status: status('b2', 'a1'), members: [s1] }], { role: 'agent', running: false, healthy: false, message: 'k3s-agent is active' }],
    [
      'a server whose etcd does not answer',
      { k3s: unit('active', true), 'k3s-agent': unit('inactive', false) },
      ['connect ECONNREFUSED 127.0.0.1:2382'],
      { role: 'server', running: true, healthy: false, message: 'etcd on https://127.0.0.1:2382 does not answer: connect ECONNREFUSED 127.0.0.1:2382' },
    ],
    [
      // Type=notify: `activating` until K3s is up. Reported as stopped, the role loop restarted it
      // again and again, each restart killing the start before (seen on real K3s).
      'a server that is starting (activating) is running, not stopped',
      { k3s: unit('activating', true), 'k3s-agent': unit('inactive', false) },
      ['connect ECONNREFUSED 127.0.0.1:2382'],
      { role: 'server', running: true, healthy: false, message: 'etcd on https://127.0.0.1:2382 does not answer: connect ECONNREFUSED 127.0.0.1:2382' },
    ],
    [
      'a server down but enabled (it restarts as one)',
      { k3s: unit('failed', true), 'k3s-agent': unit('inactive', false) },
      ['refused'],
      { role: 'server', running: false, healthy: false, message: 'k3s is failed' },
    ],
  ])('%s', async (_what, units, answers, expected) => {
    const { driver } = setup(units, answers as ConstructorParameters<typeof FakeEtcd>[0], {}, 's2');
    expect(await driver.observe()).toEqual(expected);
  });

  it.each([
    ['a learner', status('b2', 'a1', { isLearner: true }), 'joining'],
    ['no leader', status('b2', undefined), 'no leader'],
    ['removed', status('ff', 'a1'), 'removed'],
  ])('%s is not healthy and says why', async (_what, st, says) => {
    const { driver } = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [{ status: st, members: [s1, s2] }], {}, 's2');
    const r = await driver.observe();
    expect(r.healthy).toBe(false);
    expect(r.message).toContain(says);
  });

  it('a settled module asks systemd once per unitsMaxAgeMs; a server whose etcd stops answering asks at once', async () => {
    const SERVER_UP = { k3s: unit('active', true), 'k3s-agent': unit('inactive', false) };
    const healthy = { status: status('b2', 'a1'), members: [s1, s2] };
    let clock = 0;
    const { host, etcd, driver } = setup(
      SERVER_UP,
      [healthy, healthy, healthy, 'connect ECONNREFUSED 127.0.0.1:2382'],
      { now: () => clock, unitsMaxAgeMs: 30_000 },
      's2',
    );
    const shows = () => host.log.filter((l) => l === SHOW).length;
    for (let i = 0; i < 3; i++, clock += 1000) expect((await driver.observe()).healthy).toBe(true);
    expect(shows()).toBe(1);
    // K3s stopped: its etcd went with it, and the report says so from a fresh look.
    host.units.k3s.active = 'failed';
    expect(await driver.observe()).toEqual({ role: 'server', running: false, healthy: false, message: 'k3s is failed' });
    expect(shows()).toBe(2);
    expect(etcd.looks).toBe(5);
  });

  it('an unhealthy server asks systemd at each observe, but reads etcd once when its units did not change', async () => {
    const { host, etcd, driver } = setup(
      { k3s: unit('active', true), 'k3s-agent': unit('inactive', false) },
      [{ status: status('b2', undefined), members: [s1, s2] }],
      {},
      's2',
    );
    for (let i = 0; i < 3; i++) expect(await driver.observe()).toMatchObject({ role: 'server', healthy: false, message: expect.stringContaining('no leader') });
    expect(host.log.filter((l) => l === SHOW)).toHaveLength(3);
    expect(etcd.looks).toBe(3);
  });

  it('an agent module trusts its last look until it is too old', async () => {
    let clock = 0;
    const { host, driver } = setup(AGENT_UP, ['refused'], { now: () => clock, unitsMaxAgeMs: 30_000 }, 's2');
    const shows = () => host.log.filter((l) => l === SHOW).length;
    await driver.observe();
    clock += 29_000;
    await driver.observe();
    expect(shows()).toBe(1);
    clock += 1000;
    expect(await driver.observe()).toMatchObject({ role: 'agent' });
    expect(shows()).toBe(2);
    // A person's `systemctl enable --now k3s` shows once the look is old enough.
    Object.assign(host.units, { k3s: unit('active', true), 'k3s-agent': unit('inactive', false) });
    expect(await driver.observe()).toMatchObject({ role: 'agent' });
    clock += 30_000;
    expect(await driver.observe()).toMatchObject({ role: 'server', healthy: false });
  });

  it('a change the driver makes is seen at the next observe, however recent the last look', async () => {
    const healthy = { status: status('b2', 'a1'), members: [s1, s2] };
    const { driver } = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [healthy], { unitsMaxAgeMs: 3_600_000 }, 's2');
    expect(await driver.observe()).toMatchObject({ role: 'server', healthy: true });
    await driver.demote();
    expect(await driver.observe()).toMatchObject({ role: 'agent', message: 'k3s-agent is active' });
  });

  it('a look taken while the driver changes the units is not trusted after the change (the role loop observes during a promotion)', async () => {
    // Seen on real K3s: the role loop's look during the promotion's snapshot saw an agent; trusted as
    // settled, it hid the new voter from the promotion's wait and the Lease for unitsMaxAgeMs.
    let clock = 0;
    const voter = { status: status('d4', 'a1'), members: [s1, s2, member('d4', 'a1-9d8e7f6a', '10.0.0.5')] };
    const { host, driver } = setup(AGENT_UP, ['connect ECONNREFUSED 127.0.0.1:2382', voter], {
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
      unitsMaxAgeMs: 30_000,
    });
    const run = host.run.bind(host);
    const during: ControlPlaneReport[] = [];
    host.run = async (argv) => {
      if (argv[0] === 'k3s' && argv[1] === 'etcd-snapshot') during.push(await driver.observe());
      return run(argv);
    };
    await driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' });
    // Right when it was taken: the module was still an agent.
    expect(during).toEqual([expect.objectContaining({ role: 'agent' })]);
    // The promotion saw its voter at its first look, not once that look had aged out.
    expect(clock).toBe(0);
    expect(await driver.observe()).toMatchObject({ role: 'server', healthy: true });
  });

  it('a look that began before a change and ends after it is not trusted either', async () => {
    const healthy = { status: status('d4', 'a1'), members: [s1, s2, member('d4', 'a1-9d8e7f6a', '10.0.0.5')] };
    const { host, driver } = setup(AGENT_UP, ['connect ECONNREFUSED 127.0.0.1:2382', healthy], { unitsMaxAgeMs: 3_600_000 });
    const run = host.run.bind(host);
    let release: () => void = () => undefined;
    let held = true;
    host.run = async (argv) => {
      const r = await run(argv);
      // The first `systemctl show` answers as the module is now, but reaches the driver only later.
      if (held && argv.join(' ') === SHOW) {
        held = false;
        await new Promise<void>((done) => (release = done));
      }
      return r;
    };
    const slow = driver.observe();
    await driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' });
    release();
    expect(await slow).toMatchObject({ role: 'agent' });
    expect(await driver.observe()).toMatchObject({ role: 'server', healthy: true });
  });

  it('systemctl failing is a report too', async () => {
    const { host, driver } = setup(AGENT_UP, ['refused']);
    host.failing.set(SHOW, { code: 1, stdout: '', stderr: 'System has not been booted with systemd' });
    expect(await driver.observe()).toMatchObject({
      role: 'agent',
      running: false,
      healthy: false,
      message: expect.stringContaining('System has not been booted with systemd'),
    });
  });
});

describe("the runbook lists the driver's commands", () => {
  it('every command the driver runs appears in docs/runbooks/control-plane.md', async () => {
    const runbook = readFileSync(new URL('../../docs/runbooks/control-plane.md', import.meta.url), 'utf8');
    const commands = new Set<string>([SHOW]);
    const voter = { status: status('d4', 'a1'), members: [s1, s2, member('d4', 'a1-9d8e7f6a', '10.0.0.5')] };
    const p = setup(AGENT_UP, ['refused', voter]);
    await p.driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' });
    const healthy = { status: status('c3', 'a1'), members: [s1, s2, member('c3', 's3-0f1e2d3c', '10.0.0.3')] };
    const d = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [healthy, 'refused'], {}, 's3');
    await d.driver.demote();
    const r = setup({ k3s: unit('active', true), 'k3s-agent': unit('inactive', false) }, [{ status: status('a1', 'a1'), members: [s1] }], {}, 's1');
    await r.driver.restart();
    await r.driver.resetCluster();
    // The runbook writes the API address and the module as placeholders.
    // The reset's snapshot file is `$S` there, and the database `$DB`: the script's lines, with those.
    const placeheld = (c: string) =>
      c
        .replace('https://10.0.0.100:6443', 'https://<api>:6443')
        .replace(/--name (edgebox-before-\w+)-\w+$/, '--name $1-<module>')
        .replace(/--cluster-reset-restore-path=\S+$/, '--cluster-reset-restore-path="$S"');
    const lines = (c: string) =>
      c.startsWith(`sh -c ${SNAPSHOT_FROM_DB} sh `)
        ? SNAPSHOT_FROM_DB.split('\n')
            .filter((l) => l !== 'set -e')
            .map((l) => l.replaceAll('"$1"', '"$DB"').replaceAll('"$2', '"$S'))
        : [c];
    for (const h of [p.host, d.host, r.host]) for (const c of h.commands()) if (!c.startsWith('write ')) for (const l of lines(placeheld(c))) commands.add(l);
    expect(runbook).toContain(`DB=${DB}/etcd/member/snap/db\n   S=${DB}/snapshots/edgebox-before-cluster-reset-$(date +%s)\n`);
    commands.add(placeheld(SELF_SNAPSHOT('remove-s3')));
    expect(commands.size).toBeGreaterThanOrEqual(15);
    const missing = [...commands].filter((c) => !runbook.includes(c));
    expect(missing).toEqual([]);
    expect(runbook).toContain('etcd.k3s.cattle.io/remove=true');
    // The driver writes the start flag; a person touches it, before every start the runbook has.
    expect(p.host.commands()).toContain(ALLOW);
    expect(runbook.match(/touch \/run\/edgebox\/k3s-may-start\n\s*systemctl (enable --now --no-block|start --no-block) k3s\n/g)).toHaveLength(2); // restart, reset
    expect(runbook).toContain('touch /run/edgebox/k3s-may-start\n   ```\n\n7. Enable and start the server unit');
  });
});

describe('the real host runner', () => {
  const runner = hostRunner();

  it.each([
    [['true'], 0],
    [['false'], 1],
    [['sh', '-c', 'echo out; echo err >&2; exit 3'], 3],
    [['/nonexistent/edgebox-test-command'], 127],
  ])('%j exits %i and never throws', async (argv, code) => {
    const r = await runner.run(argv);
    expect(r.code).toBe(code);
    if (code === 3) expect(r).toMatchObject({ stdout: 'out\n', stderr: 'err\n' });
  });

  it('kills a command that runs out of time (124)', async () => {
    const r = await runner.run(['sleep', '5'], { timeoutMs: 200 });
    expect(r.code).toBe(124);
    expect(r.stderr).toContain('no result within 200 ms');
  });

  it('replaces a file whole, with the mode asked for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgebox-k3s-runner-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'old: true\n');
    await runner.writeFile(file, 'server: https://10.0.0.100:6443\n', 0o600);
    expect(readFileSync(file, 'utf8')).toBe('server: https://10.0.0.100:6443\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('etcd gateway over TLS with a client certificate, as K3s serves it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgebox-etcd-tls-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const read = (name: string) => readFileSync(join(dir, name));
  let server: ReturnType<typeof createServer>;
  let endpoint = '';
  const perSocket = new Map<unknown, number>();
  let resetSecondRequest = false;
  let unavailableOnce = false;

  beforeAll(async () => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'server-ca.crt', '-days', '2', '-subj', '/CN=etcd-server-ca');
    writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    for (const [name, cn] of [
      ['server', '127.0.0.1'],
      ['client', 'etcd-client'],
    ] as const) {
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'server-ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        ...(name === 'server' ? ['-extfile', 'san.cnf'] : []),
      );
    }
    // Answers as etcd 3.6's gateway does (captured from etcd v3.6.16), only to a client certificate.
    server = createServer(
      { key: read('server.key'), cert: read('server.crt'), ca: read('server-ca.crt'), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const served = (perSocket.get(req.socket) ?? 0) + 1;
        perSocket.set(req.socket, served);
        // A member that restarted: the kept-alive connection dies under the next request.
        if (resetSecondRequest && served === 2) {
          req.socket.destroy();
          return;
        }
        req.resume();
        req.on('end', () => {
          if (unavailableOnce) {
            unavailableOnce = false;
            res.writeHead(503, { 'Content-Type': 'application/json' });
            res.end('{"error":"etcdserver: server stopped","code":14,"message":"etcdserver: server stopped"}');
            return;
          }
          res.writeHead(req.method === 'POST' ? 200 : 405, { 'Content-Type': 'application/json' });
          res.end(
            req.url === '/v3/cluster/member/list'
              ? '{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","raft_term":"2"},"members":[{"ID":"13668033151171901709","name":"s1-1b2c3d4e","peerURLs":["https://10.0.0.1:2380"],"clientURLs":["https://10.0.0.1:2379"]}]}'
              : '{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"1","raft_term":"2"},"version":"3.6.16","dbSize":"28672","leader":"13668033151171901709","raftIndex":"4","raftTerm":"2","raftAppliedIndex":"4"}',
          );
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );

  it("reads the member list and status with K3s's client certificate", async () => {
    const g = etcdGateway({ endpoint, tls: async () => ({ ca: read('server-ca.crt'), cert: read('client.crt'), key: read('client.key') }) });
    expect(await g.memberList()).toEqual([
      { id: 'bdae9bbc11dd390d', name: 's1-1b2c3d4e', peerURLs: ['https://10.0.0.1:2380'], clientURLs: ['https://10.0.0.1:2379'], learner: false },
    ]);
    expect(await g.status()).toMatchObject({ memberId: 'bdae9bbc11dd390d', leaderId: 'bdae9bbc11dd390d', raftIndex: 4, revision: 1 });
  });

  it('reads over one kept-alive connection: one TLS handshake, not one per observation', async () => {
    server.closeAllConnections();
    const connections = perSocket.size;
    const g = etcdGateway({ endpoint, tls: async () => ({ ca: read('server-ca.crt'), cert: read('client.crt'), key: read('client.key') }) });
    for (let i = 0; i < 5; i++) expect((await g.status()).raftIndex).toBe(4);
    expect(perSocket.size - connections).toBe(1);
  });

  it('reads the certificates at the first request, and again only after a request failed', async () => {
    let reads = 0;
    const g = etcdGateway({
      endpoint,
      tls: async () => {
        reads++;
        return { ca: read('server-ca.crt'), cert: read('client.crt'), key: read('client.key') };
      },
    });
    for (let i = 0; i < 5; i++) await g.status();
    expect(reads).toBe(1);
    // A failed request (K3s restarting, perhaps with new certificates): read again for the next one.
    unavailableOnce = true;
    await expect(g.status()).rejects.toThrow(/HTTP 503/);
    expect((await g.status()).raftIndex).toBe(4);
    expect(reads).toBe(2);
  });

  it('reads again on a new connection when the kept-alive one dies under the request (a restarted member)', async () => {
    server.closeAllConnections();
    const connections = perSocket.size;
    resetSecondRequest = true;
    try {
      const g = etcdGateway({ endpoint, tls: async () => ({ ca: read('server-ca.crt'), cert: read('client.crt'), key: read('client.key') }) });
      expect((await g.status()).raftIndex).toBe(4);
      expect((await g.status()).raftIndex).toBe(4);
      expect(perSocket.size - connections).toBe(2);
    } finally {
      resetSecondRequest = false;
    }
  });

  it('without the client certificate (not a server yet) it fails, and observe reports that', async () => {
    const g = etcdGateway({
      endpoint,
      tls: async () => {
        throw new Error(`ENOENT: no such file or directory, open '/var/lib/rancher/k3s/server/tls/etcd/server-ca.crt'`);
      },
    });
    await expect(g.status()).rejects.toThrow(/ENOENT/);
    const noCert = etcdGateway({ endpoint, timeoutMs: 1000, tls: async () => ({ ca: read('server-ca.crt'), cert: Buffer.alloc(0), key: Buffer.alloc(0) }) });
    await expect(noCert.memberList()).rejects.toThrow();
  });
});

describe('a module the spec does not have', () => {
  it('is bad input, found when a config is first rendered', async () => {
    const { host, driver } = setup(AGENT_UP, ['refused'], {}, 'ghost');
    const e = await driver.promote({ etcdEndpoints: [], apiServer: '10.0.0.100' }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(EdgeboxError);
    expect((e as EdgeboxError).kind).toBe('input');
    expect((e as EdgeboxError).diagnostics[0]!.code).toBe('agent.unknown-module');
    expect(host.commands()).toEqual([]);
  });
});
