import { K3S_CONFIG_PATH, TOKEN_FILE } from '../../render/k3s-config.js';

/**
 * What the k3s role driver does to a module, decided from what it observed, without I/O: the
 * exact command sequences of docs/runbooks/control-plane.md. The driver (k3s-driver.ts) runs them
 * in order through a CommandRunner and stops at the first failure with the step's hint.
 */

/** K3s's data dir (`--data-dir` default). */
export const K3S_DATA_DIR = '/var/lib/rancher/k3s';
/**
 * The embedded etcd's data: `db/etcd` (the member's WAL and name file), `db/reset-flag`,
 * `db/snapshots`. K3s's own message after a cluster reset says to "backup and delete
 * ${datadir}/server/db on each peer etcd server and rejoin" (k3s pkg/etcd/etcd.go, Reset).
 */
export const ETCD_DB_DIR = `${K3S_DATA_DIR}/server/db`;
/** K3s counts a member's data as there when this exists (k3s pkg/etcd/etcd.go, IsInitialized). */
export const ETCD_WAL_DIR = `${ETCD_DB_DIR}/etcd/member/wal`;
/** Written by `k3s server --cluster-reset`, removed by the next normal start (k3s pkg/cluster/managed.go). */
export const RESET_FLAG = `${ETCD_DB_DIR}/reset-flag`;
/** Client certificate and CA K3s's own etcd client uses (server-ca.crt, client.crt, client.key). */
export const ETCD_TLS_DIR = `${K3S_DATA_DIR}/server/tls/etcd`;
/**
 * K3s's embedded etcd's HTTP/JSON gateway: K3s keeps 2379 for gRPC only and puts the gateway on
 * 127.0.0.1:2382 (k3s pkg/etcd/etcd.go, listenClientHTTPURLs; etcd-io/etcd#15402). An HTTP/1
 * request to 2379 fails ("Parse Error: Expected HTTP/"): seen on real K3s, where the driver first ran.
 */
export const K3S_ETCD_PORT = 2382;
/** K3s names a member `<node name>-<8 hex digits>` (k3s pkg/etcd/etcd.go, setName): the node's name. */
export const nodeOfMember = (member: string): string => member.replace(/-[0-9a-f]{8}$/, '');
export const K3S_ETCD_ENDPOINT = `https://127.0.0.1:${K3S_ETCD_PORT}`;

/** Unit names of the K3s install script: `k3s` for `server`, `k3s-<cmd>` (k3s-agent) otherwise. */
export const SERVER_UNIT = 'k3s';
export const AGENT_UNIT = 'k3s-agent';
/** The transient unit the cluster reset runs in: outside the agent's sandbox and cgroup. */
export const RESET_UNIT = 'edgebox-k3s-cluster-reset';

/**
 * K3s's member removal request (k3s pkg/etcd/member_controller.go): on a Node labelled
 * `node-role.kubernetes.io/etcd`, `etcd.k3s.cattle.io/remove: "true"` makes the leader-elected
 * server remove the member named in `etcd.k3s.cattle.io/node-name`; it then records it in
 * `etcd.k3s.cattle.io/removed-node-name` and drops the node-name and node-address annotations.
 */
export const REMOVED_NODE_NAME_ANNOTATION = 'etcd.k3s.cattle.io/removed-node-name';
export const ETCD_ROLE_LABEL = 'node-role.kubernetes.io/etcd';

/** One unit as `systemctl show` describes it. */
export interface UnitState {
  /** The unit file exists (LoadState=loaded). */
  loaded: boolean;
  /** ActiveState: active, activating, inactive, failed, deactivating, reloading. */
  active: string;
  /** UnitFileState=enabled: it starts at boot. */
  enabled: boolean;
}

export interface HostState {
  server: UnitState;
  agent: UnitState;
}

/** The local etcd member, as far as it answers. */
export type MemberState = 'voter' | 'learner' | 'none';

export const SHOW_UNITS = ['systemctl', 'show', '--property=LoadState,ActiveState,UnitFileState', SERVER_UNIT, AGENT_UNIT] as const;

/** `systemctl show` of the two units: one block of Key=Value lines per unit, in argument order. */
export function parseUnitStates(stdout: string): HostState {
  const blocks = stdout.trim().split(/\n\s*\n/);
  const unit = (text: string | undefined): UnitState => {
    const kv = new Map(
      (text ?? '').split('\n').map((l) => {
        const i = l.indexOf('=');
        return [l.slice(0, i).trim(), l.slice(i + 1).trim()] as const;
      }),
    );
    return { loaded: kv.get('LoadState') === 'loaded', active: kv.get('ActiveState') ?? 'inactive', enabled: kv.get('UnitFileState') === 'enabled' };
  };
  return { server: unit(blocks[0]), agent: unit(blocks[1]) };
}

/** Running or on its way: a Type=notify unit is `activating` until K3s reports ready. */
export function isUp(u: UnitState): boolean {
  return u.active === 'active' || u.active === 'activating' || u.active === 'reloading';
}

export type Step =
  | { kind: 'run'; step: string; argv: string[]; timeoutMs?: number; hint: string }
  | { kind: 'write'; step: string; path: string; content: string; mode: number; hint: string };

export type Plan =
  | { kind: 'steps'; steps: Step[] }
  /** Nothing to change; `wait` says whether the goal still has to be waited for. */
  | { kind: 'nothing'; wait: boolean; why: string }
  | { kind: 'refuse'; code: string; message: string; hint: string };

const JOURNAL = (unit: string) => `see \`journalctl -u ${unit} -n 100\``;

const noServerUnit: Plan = {
  kind: 'refuse',
  code: 'k3s.no-server-unit',
  message: `this module has no ${SERVER_UNIT}.service unit, so it cannot serve`,
  hint: 'install it without enabling or starting it: `curl -sfL https://get.k3s.io | INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_SKIP_ENABLE=true INSTALL_K3S_SKIP_START=true sh -s - server` (docs/runbooks/control-plane.md, before you start)',
};
const noAgentUnit: Plan = {
  kind: 'refuse',
  code: 'k3s.no-agent-unit',
  message: `this module has no ${AGENT_UNIT}.service unit, so it cannot run as an agent`,
  hint: 'install it without enabling or starting it: `curl -sfL https://get.k3s.io | INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_SKIP_ENABLE=true INSTALL_K3S_SKIP_START=true sh -s - agent` (docs/runbooks/control-plane.md, before you start)',
};

const writeConfig = (content: string, what: string): Step => ({
  kind: 'write',
  step: 'write-config',
  path: K3S_CONFIG_PATH,
  content,
  mode: 0o600,
  hint: `the agent could not write ${K3S_CONFIG_PATH} (${what}); check that the directory exists and the agent's unit may write it (ReadWritePaths=/etc/rancher/k3s)`,
});

/**
 * K3s starts only while this exists: render's drop-in for k3s.service has
 * `ConditionPathExists=` on it, and /run is emptied at every boot. So a module powered on again
 * never starts K3s on its own from data that may be a stale member's (fenced while the others went
 * on, or left out of a cluster reset): two such modules would make a quorum of the old cluster,
 * beside the new one. The agent writes it before every start it decides: a promotion, a restart
 * the live cluster agrees to, the survivor of a quorum loss.
 */
export const MAY_START_FLAG = '/run/edgebox/k3s-may-start';
export const MAY_START_DROP_IN = '/etc/systemd/system/k3s.service.d/10-edgebox.conf';

const allowStart = (why: string): Step => ({
  kind: 'write',
  step: 'allow-start',
  path: MAY_START_FLAG,
  content: `written by the edgebox agent: k3s may start until the next boot (${why})\n`,
  mode: 0o644,
  hint: `the agent could not write ${MAY_START_FLAG} (its unit's RuntimeDirectory=edgebox must make /run/edgebox writable)`,
});
const forbidStart: Step = {
  kind: 'run',
  step: 'forbid-start',
  argv: ['rm', '-f', MAY_START_FLAG],
  hint: `remove ${MAY_START_FLAG} by hand`,
};

/** K3s's snapshots (`k3s etcd-snapshot save`, scheduled ones): never deleted by edgebox. */
export const SNAPSHOT_DIR = `${ETCD_DB_DIR}/snapshots`;
/**
 * A promoting module is still an agent: it has no server data dir with K3s's `token` in it, which
 * `k3s etcd-snapshot` reads when no token is given. Its join token is copied here (0600, on
 * /run's tmpfs, removed after) so it never appears on a command line.
 */
export const SNAPSHOT_CLIENT_DIR = '/run/edgebox/k3s-snapshot-client';
/** How long one `k3s etcd-snapshot save` may take (K3s's own client gives up after 2 min). */
export const SNAPSHOT_TIMEOUT_MS = 150_000;

/**
 * Before a membership change: an on-demand snapshot, saved by the server it is asked of in its
 * own `server/db/snapshots`, never pruned (`save` sets retention 0). K3s names the file
 * `<name>-<node>-<unix time>`. `server` is the URL of the server to ask when this module is not
 * one itself (a promotion); without it, this module's own server answers on 127.0.0.1:6443.
 * A failed snapshot stops the change: a membership change without one is a step the box cannot
 * go back on.
 */
export function snapshotSteps(why: string, server?: string): Step[] {
  const hint = `the membership change is not made without a snapshot: a server with quorum must answer \`k3s etcd-snapshot save\`${server ? ` on ${server}` : ''}; ${JOURNAL(SERVER_UNIT)} there says why it failed`;
  const save = (dataDir: string): Step => ({
    kind: 'run',
    step: 'snapshot',
    argv: ['k3s', 'etcd-snapshot', 'save', '--data-dir', dataDir, ...(server ? ['--etcd-server', server] : []), '--name', `edgebox-before-${why}`],
    timeoutMs: SNAPSHOT_TIMEOUT_MS,
    hint,
  });
  if (!server) return [save(K3S_DATA_DIR)];
  const cleanup = (step: string): Step => ({ kind: 'run', step, argv: ['rm', '-rf', SNAPSHOT_CLIENT_DIR], hint: `remove ${SNAPSHOT_CLIENT_DIR} by hand` });
  return [
    cleanup('snapshot-client-clean'),
    {
      kind: 'run',
      step: 'snapshot-token',
      argv: ['install', '-D', '-m', '0600', TOKEN_FILE, `${SNAPSHOT_CLIENT_DIR}/server/token`],
      hint: `the agent could not copy ${TOKEN_FILE} to ${SNAPSHOT_CLIENT_DIR} (its unit may write /run/edgebox)`,
    },
    save(SNAPSHOT_CLIENT_DIR),
    cleanup('snapshot-client-remove'),
  ];
}
/** The survivor's etcd database, as a snapshot file a cluster reset restores (planReset). */
export const resetSnapshot = (stamp: number) => `${SNAPSHOT_DIR}/edgebox-before-cluster-reset-${stamp}`;
/**
 * `$1`, a member's bbolt database, copied to `$2` as a snapshot file etcd's restore takes: the
 * database with its sha256 appended, what `etcdctl snapshot save` writes (etcd's restore refuses a
 * file without it, and K3s gives no way to skip the check). Only coreutils and awk, which every
 * module has: awk turns the hex digest into the octal escapes POSIX printf writes as bytes. The
 * runbook has the same lines with `$DB` and `$S` (docs/runbooks/control-plane.md, section 5).
 */
export const SNAPSHOT_FROM_DB = [
  'set -e',
  'cp "$1" "$2.part"',
  `printf "$(sha256sum "$2.part" | cut -c1-64 | awk -v h=0123456789abcdef '{for (i = 1; i < 64; i += 2) printf "\\\\%03o", (index(h, substr($0, i, 1)) - 1) * 16 + index(h, substr($0, i + 1, 1)) - 1}')" >> "$2.part"`,
  'mv "$2.part" "$2"',
].join('\n');

/**
 * The member's data, so it never rejoins stale: `db/etcd` (what K3s counts as a datastore on
 * disk), `db/etcd-tmp` (a restore's work dir) and the reset flag. Not `db/snapshots`: the runbook's
 * "delete server/db" would take the box's snapshots with it.
 */
const discardEtcdData: Step = {
  kind: 'run',
  step: 'discard-etcd-data',
  argv: ['rm', '-rf', `${ETCD_DB_DIR}/etcd`, `${ETCD_DB_DIR}/etcd-tmp`, RESET_FLAG],
  hint: `remove ${ETCD_DB_DIR}/etcd by hand (keep ${SNAPSHOT_DIR}); check that the agent's unit may write ${K3S_DATA_DIR} (ReadWritePaths)`,
};

/**
 * Agent -> server. Already a voter: nothing. Already joining (K3s up, its member a learner or
 * starting): wait, never switch twice. K3s up but its etcd silent: refuse rather than delete a
 * running server's data. Otherwise: a snapshot on the server it joins, config for a server
 * joining through the API address, the agent unit off, no stale etcd data (a datastore on disk
 * makes K3s ignore `server:`), server on.
 */
export function planPromote(host: HostState, member: MemberState, config: string, o: { module: string; server: string }): Plan {
  if (!host.server.loaded) return noServerUnit;
  if (isUp(host.server)) {
    if (member === 'voter') return { kind: 'nothing', wait: false, why: 'already an etcd voter' };
    if (member === 'learner' || host.server.active === 'activating') return { kind: 'nothing', wait: true, why: 'already joining' };
    return {
      kind: 'refuse',
      code: 'k3s.server-silent',
      message: `${SERVER_UNIT}.service runs but its etcd member does not answer on ${K3S_ETCD_ENDPOINT}`,
      hint: `${JOURNAL(SERVER_UNIT)}; if this module was replaced, demote it (docs/runbooks/control-plane.md, section 3)`,
    };
  }
  return {
    kind: 'steps',
    steps: [
      {
        kind: 'run',
        step: 'check-token',
        argv: ['test', '-s', TOKEN_FILE],
        hint: `create ${TOKEN_FILE} with the box's join token (the same file as on every module; docs/render.md)`,
      },
      ...snapshotSteps(`promote-${o.module}`, o.server),
      writeConfig(config, 'a server joining through the API address'),
      ...(host.agent.loaded
        ? [
            {
              kind: 'run' as const,
              step: 'stop-agent',
              argv: ['systemctl', 'disable', '--now', AGENT_UNIT],
              hint: `${JOURNAL(AGENT_UNIT)}; stop it by hand with \`systemctl disable --now ${AGENT_UNIT}\``,
            },
          ]
        : []),
      discardEtcdData,
      allowStart('a promotion'),
      {
        kind: 'run',
        step: 'start-server',
        argv: ['systemctl', 'enable', '--now', '--no-block', SERVER_UNIT],
        hint: `${JOURNAL(SERVER_UNIT)}; then start it by hand with \`systemctl enable --now ${SERVER_UNIT}\``,
      },
    ],
  };
}

/**
 * Server -> agent, discarding the member's data so it never rejoins stale. A healthy voter (one
 * whose cluster has quorum) has a snapshot taken first, on itself; a server that is down or
 * cut off has none to give, and its data is only a stale member's. Already an agent with the
 * server off: only make sure no etcd data is left.
 */
export function planDemote(host: HostState, config: string, o: { module: string; healthyVoter: boolean }): Plan {
  if (!host.agent.loaded) return noAgentUnit;
  const serverOff = !isUp(host.server) && !host.server.enabled;
  if (serverOff && isUp(host.agent)) return { kind: 'steps', steps: [discardEtcdData] };
  return {
    kind: 'steps',
    steps: [
      ...(o.healthyVoter ? snapshotSteps(`demote-${o.module}`) : []),
      ...(host.server.loaded
        ? [
            {
              kind: 'run' as const,
              step: 'stop-server',
              argv: ['systemctl', 'disable', '--now', SERVER_UNIT],
              hint: `${JOURNAL(SERVER_UNIT)}; stop it by hand with \`systemctl disable --now ${SERVER_UNIT}\``,
            },
          ]
        : []),
      forbidStart,
      discardEtcdData,
      writeConfig(config, 'an agent'),
      {
        kind: 'run',
        step: 'start-agent',
        argv: ['systemctl', 'enable', '--now', '--no-block', AGENT_UNIT],
        hint: `${JOURNAL(AGENT_UNIT)}; then start it by hand with \`systemctl enable --now ${AGENT_UNIT}\``,
      },
    ],
  };
}

/**
 * Serve again with the data on disk (a reboot while still a member; the survivors' cold start).
 * `start`, not `restart`: a K3s that is already starting (`activating` for 10-20 s) or running is
 * left alone. With `restart`, each repeated decision killed the start before it and the server
 * never came up (seen on real K3s after a cluster reset, the quorum loop asking every ~10 s).
 */
export function planRestart(host: HostState): Plan {
  if (!host.server.loaded) return noServerUnit;
  return {
    kind: 'steps',
    steps: [
      allowStart('a restart the live cluster agrees to'),
      {
        kind: 'run',
        step: 'start-server',
        argv: ['systemctl', 'start', '--no-block', SERVER_UNIT],
        hint: `${JOURNAL(SERVER_UNIT)}; if the member was removed meanwhile, demote this module instead`,
      },
    ],
  };
}

/** How long `k3s server --cluster-reset` may take before the driver gives up on it. */
export const RESET_TIMEOUT_MS = 10 * 60_000;

/**
 * Quorum loss, on the chosen survivor, which must have etcd data (a reset without any would start
 * an empty cluster). K3s refuses `--cluster-reset` while a server URL is
 * configured (k3s pkg/cli/server/server.go), so the config first loses `server:` (rendered as
 * `cluster-init`, which K3s ignores once a datastore is on disk). The reset runs as a transient
 * unit so an agent restart cannot kill it half way; it exits once etcd runs as a one-member
 * cluster. A reset-flag already there means K3s already reset this data and was not started
 * normally since (the start clears it): then only the start is left.
 *
 * The reset restores the survivor's own database (`--cluster-reset-restore-path`), never resets
 * the member in place: after an in-place reset (etcd's `--force-new-cluster`) the servers that
 * rejoined replayed the survivor's raft log and ended with other revisions than the survivor
 * for every write since (measured here: 28-32 revisions apart at the same raft index; etcd
 * issue 14009), so the next quorum loss reset to a member whose objects had other
 * resourceVersions than the ones acknowledged. A restored member's log starts at a raft snapshot,
 * so every server that joins receives the database itself. K3s keeps the data it restores over
 * as `db/etcd-old-<time>`; the snapshot file stays in `db/snapshots`. `stamp` (unix seconds)
 * names it.
 */
export function planReset(host: HostState, resetFlag: boolean, config: string, stamp: number): Plan {
  if (!host.server.loaded) return noServerUnit;
  return {
    kind: 'steps',
    steps: [
      {
        kind: 'run',
        step: 'check-etcd-data',
        argv: ['test', '-d', ETCD_WAL_DIR],
        hint: 'this module has no etcd data: a reset here would start an empty cluster and lose every object; reset the surviving server with the highest raft index instead',
      },
      {
        kind: 'run',
        step: 'stop-server',
        argv: ['systemctl', 'stop', SERVER_UNIT],
        hint: `${JOURNAL(SERVER_UNIT)}; stop it by hand with \`systemctl stop ${SERVER_UNIT}\``,
      },
      writeConfig(config, 'the survivor, without server:'),
      ...(resetFlag
        ? []
        : [
            // A server that never took a snapshot has no snapshot directory yet.
            {
              kind: 'run' as const,
              step: 'make-snapshot-dir',
              argv: ['mkdir', '-p', SNAPSHOT_DIR],
              hint: `create ${SNAPSHOT_DIR} by hand (free disk space first if it is full)`,
            },
            {
              kind: 'run' as const,
              step: 'snapshot-database',
              argv: ['sh', '-c', SNAPSHOT_FROM_DB, 'sh', `${ETCD_DB_DIR}/etcd/member/snap/db`, resetSnapshot(stamp)],
              hint: `the stopped member's database could not be copied to ${SNAPSHOT_DIR} (free disk space first if it is full); never reset without it`,
            },
            {
              kind: 'run' as const,
              step: 'cluster-reset',
              argv: [
                'systemd-run',
                `--unit=${RESET_UNIT}`,
                '--collect',
                '--wait',
                '--pipe',
                'k3s',
                'server',
                '--cluster-reset',
                `--cluster-reset-restore-path=${resetSnapshot(stamp)}`,
              ],
              timeoutMs: RESET_TIMEOUT_MS,
              hint: `${JOURNAL(RESET_UNIT)}; K3s must log "restart without --cluster-reset flag now". If it says the membership "was previously reset", delete ${RESET_FLAG} only after checking no other server still runs`,
            },
          ]),
      allowStart('the survivor of a quorum loss'),
      {
        kind: 'run',
        step: 'start-server',
        argv: ['systemctl', 'enable', '--now', '--no-block', SERVER_UNIT],
        hint: `${JOURNAL(SERVER_UNIT)}; then start it by hand with \`systemctl enable --now ${SERVER_UNIT}\``,
      },
    ],
  };
}
