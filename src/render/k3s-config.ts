import { isIPv6 } from 'node:net';
import { kubeReserved, RESERVE, type Resources, type ServingRole } from '../catalog/reserve.js';
import { initialServers } from '../plan/control-plane.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import { nodeLabels, nodeTaints } from './node-metadata.js';
import { TUNED, TUNING_REASONS } from './tuning.js';
import { commentedYaml, type Commented, type ConfigEntry } from './yaml-output.js';
import type { Taint } from '../contract/taints.js';

/** Where K3s reads its configuration on a module. */
export const K3S_CONFIG_PATH = '/etc/rancher/k3s/config.yaml';
/**
 * The join secret, referenced and never written by render: the user creates this file with the
 * same random value on every module (the README in the output says how).
 */
export const TOKEN_FILE = '/etc/rancher/k3s/edgebox-token';
/** Kubelet settings that have no flag; `kubelet-arg: config=` points here. */
export const KUBELET_CONFIG_FILE = 'edgebox-kubelet.conf';
export const KUBELET_CONFIG_PATH = `/etc/rancher/k3s/${KUBELET_CONFIG_FILE}`;
export const API_PORT = 6443;

/** How a module starts: the first initial server creates the cluster, the rest join it. */
export type K3sRole = 'cluster-init' | 'server' | 'agent';

/**
 * Every module's K3s role. The initial servers are plan's ranked choice (initialServers), the
 * first of them runs `cluster-init`; every other module joins as an agent, promotable later.
 */
export function k3sRoles(box: BoxSpec): Map<string, K3sRole> {
  const servers = initialServers(box);
  return new Map(
    box.spec.modules.map((m) => {
      const index = servers.findIndex((s) => s.name === m.name);
      return [m.name, index === 0 ? 'cluster-init' : index > 0 ? 'server' : 'agent'];
    }),
  );
}

/** The URL servers and agents join through: the API's virtual address if set, else the first server. */
export function joinUrl(box: BoxSpec): string {
  const first = initialServers(box)[0];
  const host = box.spec.controlPlane.apiAddress ?? first?.address;
  if (!host) throw new Error('unvalidated spec: no module can serve');
  return `https://${isIPv6(host) ? `[${host}]` : host}:${API_PORT}`;
}

/**
 * Every API server an agent may fall back to, after `joinUrl`: each module that may serve, since
 * the guardian may promote any of them (their K3s serving certificates carry their own address).
 */
export function fallbackApiUrls(box: BoxSpec): string[] {
  const first = joinUrl(box);
  return box.spec.modules
    .filter((m) => m.roles.includes('server'))
    .map((m) => `https://${isIPv6(m.address) ? `[${m.address}]` : m.address}:${API_PORT}`)
    .filter((u) => u !== first);
}

/** K3s's `node-taint` form, as the kubelet's --register-with-taints reads it: `key=value:Effect`. */
export function taintArg(t: Taint): string {
  return t.value ? `${t.key}=${t.value}:${t.effect}` : `${t.key}:${t.effect}`;
}

function reservedArg(r: Resources): string {
  return `cpu=${r.cpuMillis}m,memory=${Math.ceil(r.memoryBytes / 2 ** 20)}Mi`;
}

/** The failover timings every module's kubelet runs with, each with its reason. */
function kubeletArgs(role: ServingRole): Commented<string>[] {
  return [
    { value: `node-status-update-frequency=${TUNED.nodeStatusUpdateFrequencySeconds}s`, comment: TUNING_REASONS.nodeStatusUpdateFrequencySeconds },
    {
      value: `config=${KUBELET_CONFIG_PATH}`,
      comment: `the node lease duration (${TUNED.nodeLeaseDurationSeconds} s) has no kubelet flag, only a KubeletConfiguration field: it is in this file, which K3s (v1.32 and later) merges over its own kubelet defaults`,
    },
    {
      value: `system-reserved=${reservedArg(RESERVE.system)}`,
      comment: 'kept for the OS (src/catalog/reserve.ts); edgebox plan subtracts the same reserves, so plan and node allocatable agree',
    },
    {
      value: `kube-reserved=${reservedArg(kubeReserved(role))}`,
      comment:
        role === 'server'
          ? 'kept for K3s itself: a server with embedded etcd takes about 1.6 GB (docs.k3s.io resource profiling)'
          : 'kept for K3s itself: an agent takes about 270 MB (docs.k3s.io resource profiling)',
    },
  ];
}

/** Control-plane tuning, on servers only (agents run no apiserver, controller-manager or etcd). */
function serverEntries(): ConfigEntry[] {
  return [
    {
      key: 'kube-controller-manager-arg',
      value: [
        { value: `node-monitor-period=${TUNED.nodeMonitorPeriodSeconds}s`, comment: TUNING_REASONS.nodeMonitorPeriodSeconds },
        { value: `node-monitor-grace-period=${TUNED.nodeMonitorGracePeriodSeconds}s`, comment: TUNING_REASONS.nodeMonitorGracePeriodSeconds },
      ],
    },
    {
      key: 'kube-apiserver-arg',
      comment: `${TUNING_REASONS.defaultTolerationSeconds}; edgebox workloads set their own tolerationSeconds by criticality`,
      value: [
        { value: `default-not-ready-toleration-seconds=${TUNED.defaultTolerationSeconds}` },
        { value: `default-unreachable-toleration-seconds=${TUNED.defaultTolerationSeconds}` },
      ],
    },
    {
      key: 'etcd-arg',
      comment: `${TUNING_REASONS.etcdHeartbeat}; every server must use the same values`,
      value: [{ value: `heartbeat-interval=${TUNED.etcdHeartbeatMs}` }, { value: `election-timeout=${TUNED.etcdElectionTimeoutMs}` }],
    },
  ];
}

/**
 * What to render instead of the module's initial role: the agent's k3s role driver
 * (src/agent/role/k3s-driver.ts) renders a promoted module as a server, a demoted one as an agent
 * and a cluster-reset survivor as `cluster-init`, with the same labels, taints and tuning.
 */
export interface K3sConfigOptions {
  /** Default: the module's initial role (k3sRoles). */
  role?: K3sRole;
  /** `server:` of a joining module. Default: joinUrl(box). */
  joinUrl?: string;
}

/** `/etc/rancher/k3s/config.yaml` of one module, with the reason for each value as a comment. */
export function renderK3sConfig(box: BoxSpec, m: ModuleSpec, opts: K3sConfigOptions = {}): string {
  const role = opts.role ?? k3sRoles(box).get(m.name);
  if (!role || !box.spec.modules.some((x) => x.name === m.name)) throw new Error(`module '${m.name}' is not in box '${box.metadata.name}'`);
  const serving: ServingRole = role === 'agent' ? 'agent' : 'server';
  const apiAddress = box.spec.controlPlane.apiAddress;
  const taints = nodeTaints(box, m);

  const entries: ConfigEntry[] = [
    ...(role === 'cluster-init'
      ? [{ key: 'cluster-init', value: true, comment: 'first server: it creates the embedded etcd cluster the other modules join' }]
      : [
          {
            key: 'server',
            value: opts.joinUrl ?? joinUrl(box),
            comment: opts.joinUrl
              ? 'join through the API address the agent was given'
              : apiAddress
                ? 'join through the API virtual address, which must already answer (kube-vip)'
                : 'join through the first server',
          },
        ]),
    {
      key: 'token-file',
      value: TOKEN_FILE,
      comment: 'the join secret, never written here: create this file with the same random value on every module',
    },
    { key: 'node-name', value: m.name },
    { key: 'node-ip', value: m.address },
    ...(serving === 'server' && apiAddress
      ? [{ key: 'tls-san', value: [{ value: apiAddress }], comment: 'the API virtual address, so the server certificate is valid through it' }]
      : []),
    {
      key: 'node-label',
      comment:
        'what the module is, can do and can reach; workloads require these in their node affinity. K3s applies them when the node registers; `edgebox apply` keeps them in sync afterwards',
      value: Object.entries(nodeLabels(box, m)).map(([k, v]) => ({ value: `${k}=${v}` })),
    },
    ...(taints.length
      ? [
          {
            key: 'node-taint',
            comment: 'an accelerator module: only workloads that ask for an accelerator (and DaemonSets) are scheduled here',
            value: taints.map((t) => ({ value: taintArg(t) })),
          },
        ]
      : []),
    ...(serving === 'server' ? serverEntries() : []),
    { key: 'kubelet-arg', value: kubeletArgs(serving) },
  ];

  const command = serving === 'server' ? 'k3s server' : 'k3s agent';
  const header = [
    `edgebox: K3s configuration of module ${m.name} (${m.hardware}, ${m.address}) in box ${box.metadata.name}.`,
    `Role: ${role === 'cluster-init' ? 'the first server; start it before every other module' : role === 'server' ? 'server (etcd voter); start it after the first server' : 'agent'}.`,
    `Install as ${K3S_CONFIG_PATH}, with ${KUBELET_CONFIG_FILE} as ${KUBELET_CONFIG_PATH}, then run \`${command}\`.`,
  ].join('\n');
  return commentedYaml(header, entries);
}

/** The kubelet configuration file `kubelet-arg: config=` names: what the kubelet has no flag for. */
export function renderKubeletConfig(): string {
  return commentedYaml(
    `edgebox: kubelet settings without a command-line flag. Install as ${KUBELET_CONFIG_PATH}; the module's config.yaml points the kubelet at it.`,
    [
      { key: 'apiVersion', value: 'kubelet.config.k8s.io/v1beta1' },
      { key: 'kind', value: 'KubeletConfiguration' },
      { key: 'nodeLeaseDurationSeconds', value: TUNED.nodeLeaseDurationSeconds, comment: TUNING_REASONS.nodeLeaseDurationSeconds },
    ],
  );
}
