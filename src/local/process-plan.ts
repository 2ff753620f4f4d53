import type { MemberInfo } from '../contract/role-driver.js';

/**
 * The pure part of the `process` role driver (docs/decisions/0002-control-plane.md): the command
 * lines of a module's etcd member and kube-apiserver, and the etcd `--initial-cluster` a joining
 * member starts with. The driver (process-driver.ts) and `edgebox local up` (the initial servers)
 * share them, so the first servers and the promoted ones run the same way.
 */

/** K3s's default service CIDR, so addresses look as they will on the box. Never routed. */
export const SERVICE_CIDR = '10.43.0.0/16';
/** The `kubernetes` Service's address in that CIDR: a SAN of the API servers' certificate. */
export const SERVICE_IP = '10.43.0.1';

/** Everything needed to run one module's control-plane member; the local box derives it from its state. */
export interface ServerLayout {
  module: string;
  /** The module's own loopback address (127.0.1.N): its etcd and API server bind it. */
  address: string;
  /** The same on every module (each binds its own address). */
  ports: { etcdClient: number; etcdPeer: number; apiserver: number };
  /** Shared by every member: a member of another box's cluster is refused. */
  clusterToken: string;
  dataDir: string;
  bin: { etcd: string; apiserver: string };
  logs: { etcd: string; apiserver: string };
  /** The box CA (clients verify the API servers with it) and the serving certificate every API server shares. */
  pki: { ca: string; servingCert: string; servingKey: string; tokenFile: string; serviceAccountKey: string };
  timings: { defaultTolerationSeconds: number; etcdHeartbeatMs: number; etcdElectionTimeoutMs: number };
}

export const etcdClientUrl = (l: Pick<ServerLayout, 'address' | 'ports'>): string => `http://${l.address}:${l.ports.etcdClient}`;
export const etcdPeerUrl = (l: Pick<ServerLayout, 'address' | 'ports'>): string => `http://${l.address}:${l.ports.etcdPeer}`;
export const apiserverUrl = (l: Pick<ServerLayout, 'address' | 'ports'>): string => `https://${l.address}:${l.ports.apiserver}`;

export interface EtcdStart {
  /** `name=peerURL,...` (see `initialCluster`); only read when the data dir is empty. */
  initialCluster: string;
  /** `new`: one of the box's first servers; `existing`: joining a running cluster (after `member add`). */
  state: 'new' | 'existing';
  /** Quorum loss: make this member the only voter of a new cluster on its data (etcd --force-new-cluster). */
  forceNewCluster?: boolean;
}

export function etcdArgs(l: ServerLayout, s: EtcdStart): string[] {
  const client = etcdClientUrl(l);
  const peer = etcdPeerUrl(l);
  return [
    `--name=${l.module}`,
    `--data-dir=${l.dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${s.initialCluster}`,
    `--initial-cluster-state=${s.state}`,
    `--initial-cluster-token=${l.clusterToken}`,
    `--heartbeat-interval=${l.timings.etcdHeartbeatMs}`,
    `--election-timeout=${l.timings.etcdElectionTimeoutMs}`,
    // fsync on, as on a module: a member killed (power lost) keeps only what it synced, and the
    // failover and chaos benches measure recovery with the latency that costs (about 2 ms a write here).
    ...(s.forceNewCluster ? ['--force-new-cluster'] : []),
  ];
}

export function apiserverArgs(l: ServerLayout): string[] {
  return [
    // Its own module's member only: an API server is as available as the member beside it, as on K3s.
    `--etcd-servers=${etcdClientUrl(l)}`,
    `--bind-address=${l.address}`,
    // Without it the API server advertises the host's first non-loopback address.
    `--advertise-address=${l.address}`,
    `--secure-port=${l.ports.apiserver}`,
    `--tls-cert-file=${l.pki.servingCert}`,
    `--tls-private-key-file=${l.pki.servingKey}`,
    `--token-auth-file=${l.pki.tokenFile}`,
    '--authorization-mode=RBAC',
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${l.pki.serviceAccountKey}`,
    `--service-account-signing-key-file=${l.pki.serviceAccountKey}`,
    // No kube-proxy or endpoints to keep: the `kubernetes` Service's endpoints are not needed.
    '--endpoint-reconciler-type=none',
    `--default-not-ready-toleration-seconds=${l.timings.defaultTolerationSeconds}`,
    `--default-unreachable-toleration-seconds=${l.timings.defaultTolerationSeconds}`,
  ];
}

/**
 * The `--initial-cluster` of a member joining after `member add`: every member of the list by
 * name and peer URL, the new one (not started yet, so nameless in the list) under `self.name`.
 * etcd checks it against the cluster's members, so it must list all of them, as etcdctl's
 * `member add` output does (an unstarted member of another join keeps its empty name).
 */
export function initialCluster(members: readonly Pick<MemberInfo, 'id' | 'name' | 'peerURLs'>[], self: { id: string; name: string }): string {
  return members.flatMap((m) => m.peerURLs.map((u) => `${m.id === self.id ? self.name : m.name}=${u}`)).join(',');
}

/** The `--initial-cluster` of the box's first servers, started together (`local up`). */
export function bootstrapCluster(servers: readonly Pick<ServerLayout, 'module' | 'address' | 'ports'>[]): string {
  return servers.map((s) => `${s.module}=${etcdPeerUrl(s)}`).join(',');
}

/** The member of `members` that is this module: by its peer URL (a learner not started yet has no name). */
export function ownMember(members: readonly MemberInfo[], l: Pick<ServerLayout, 'address' | 'ports'>): MemberInfo | undefined {
  const peer = etcdPeerUrl(l);
  return members.find((m) => m.peerURLs.includes(peer));
}
