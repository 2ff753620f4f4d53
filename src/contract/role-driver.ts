/**
 * How an agent moves its module between the `agent` and `server` roles
 * (docs/decisions/0002-control-plane.md). Two implementations: `k3s` on a real box (config file,
 * systemd units, K3s's own member removal and cluster reset) and `process` in the local box (an
 * etcd member and a kube-apiserver run by the agent on the module's address). The guardian and the
 * agent's role loop only ever speak this interface, so the decisions are the same on both.
 */

export type RoleDriverName = 'k3s' | 'process';

/** One etcd member as the cluster lists it. */
export interface MemberInfo {
  /** Hex member id, as etcd prints it. */
  id: string;
  /** Member name: the module's name. */
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  /** A learner replicates but does not vote, so adding one never changes the quorum. */
  learner: boolean;
}

/**
 * What an agent reports about its module's control-plane member, as JSON in the
 * `edgebox.dev/control-plane` annotation of its agent Lease (and in its heartbeats, shortened,
 * while the API is unavailable).
 */
export interface ControlPlaneReport {
  role: 'server' | 'agent';
  /** The module's etcd and API server processes (or K3s server) run. */
  running: boolean;
  /** Its etcd member answers and is part of a cluster with a leader. */
  healthy: boolean;
  memberId?: string;
  /** Name of the etcd leader as this member sees it. */
  leader?: string;
  /** Raft index of this member's data: the survivor of a quorum loss is the one with the highest. */
  raftIndex?: number;
  /** etcd revision (key-value store version). */
  revision?: number;
  /** The member list as this member sees it. */
  members?: MemberInfo[];
  /** Why it is not healthy, or what it is doing (joining, resetting...). */
  message?: string;
}

/** Where a module joining the control plane finds the cluster. */
export interface JoinTarget {
  /** etcd client URLs of healthy members (process driver). */
  etcdEndpoints: string[];
  /** The box's API address (k3s driver: `server:` in config.yaml). */
  apiServer: string;
}

export interface RoleDriver {
  readonly name: RoleDriverName;
  /** The module's member as it is now. Never throws for a stopped or missing member: reports it. */
  observe(): Promise<ControlPlaneReport>;
  /**
   * Agent -> server: join the existing cluster as a learner, start serving, promote to voter once
   * in sync. Idempotent: a module already serving reports success.
   */
  promote(target: JoinTarget): Promise<void>;
  /** Server -> agent: stop serving and discard the member's data, so it never rejoins stale. */
  demote(): Promise<void>;
  /**
   * Learner -> voter, asked by a healthy voter of the cluster for a member that joined as a
   * learner (run on a healthy server). Resolves without a change while etcd says the learner has
   * not caught up yet (etcd's own check, against the leader's log): the role loop asks again on its
   * next look. Absent: the joining module promotes itself (`process`).
   */
  promoteLearner?(member: { name: string; id: string }): Promise<void>;
  /** Remove a dead server's member from the cluster (run on a healthy server). */
  removeMember(member: { name: string; id?: string }): Promise<void>;
  /** Start serving again with the data the module has (after a reboot, while still a member). */
  restart(): Promise<void>;
  /**
   * Quorum loss: make this module's member the only voter of the cluster, keeping its data (etcd
   * `--force-new-cluster`, `k3s server --cluster-reset`). Only ever called on the chosen survivor
   * after the other voters are fenced or confirmed down.
   */
  resetCluster(): Promise<void>;
}
