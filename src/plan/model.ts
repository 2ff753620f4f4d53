import type { Severity } from '../diagnostics/diagnostic.js';

/**
 * The result of `edgebox plan`: what the box looks like with every module up, and after every
 * single and pair module failure. The key names `box`, `controlPlane` (`servers`, `quorum`,
 * `failuresTolerated`, `promotable`), `placements`, `scenarios` (`failed`, `quorumKept`,
 * `restorable`, `unplacedWorkloads`, `orphanedPeripherals`) and `findings` (`severity`, `code`,
 * `message`, `hint`, `subjects`) are a public contract (issue 2): extend, never rename.
 */
export interface Plan {
  /** The box's metadata.name. */
  box: string;
  controlPlane: ControlPlanePlan;
  /** Workload name -> the module of each placed replica (a daemonset: one entry per module). */
  placements: Record<string, string[]>;
  /** Workload name -> every module that could host it with every module up. */
  capable: Record<string, string[]>;
  /** Workloads that cannot be fully placed even with every module up. */
  unplaced: UnplacedWorkload[];
  /** Every single-module failure, then every pair, in spec order. */
  scenarios: Scenario[];
  /** Errors first, then warnings, then infos. */
  findings: Finding[];
}

export interface ControlPlanePlan {
  /** The initial servers in order; the first runs `cluster-init`. */
  servers: string[];
  /** Voters needed for etcd to accept writes: floor(servers / 2) + 1. */
  quorum: number;
  /** How many arbitrary module failures the control plane survives with no restoration. */
  failuresTolerated: number;
  /** Server-eligible modules that are not initial servers, best promotion candidate first. */
  promotable: string[];
  /** How modules and clients reach the API once the box runs. */
  apiAccess: ApiAccess;
}

export interface ApiAccess {
  /**
   * `kube-vip`: controlPlane.apiAddress, held by kube-vip on one server at a time;
   * `client-load-balancer`: no such address, K3s agents balance over the servers themselves.
   */
  via: 'kube-vip' | 'client-load-balancer';
  /** The address agents join through: the API address, or the first server's. */
  joinAddress: string;
  /** The same in words, for the report. */
  detail: string;
}

export type UnplacedReason =
  /** No surviving module has the capabilities, peripherals and size it needs. */
  | 'no-capable-module'
  /**
   * Surviving modules have the capabilities and peripherals it needs, but their taints keep it
   * off (the accelerator taint: spec.placement.acceleratorTaint).
   */
  | 'taint-blocked'
  /** Capable modules survive but lack free CPU, memory or pod slots for every replica. */
  | 'insufficient-capacity'
  /** Its exclusive peripherals are owned by a module that cannot host it. */
  | 'peripheral-conflict';

export interface UnplacedWorkload {
  workload: string;
  reason: UnplacedReason;
  /** Replicas (pods) wanted in this situation. */
  wantedReplicas: number;
  missingReplicas: number;
}

export interface Scenario {
  /** The modules that failed, in spec order. */
  failed: string[];
  /** Surviving initial servers >= quorum: the API keeps working with no intervention. */
  quorumKept: boolean;
  /**
   * A surviving initial server still holds the etcd data, so the control plane comes back with
   * no human: as it is when quorum is kept, else by `cluster-reset` on that server.
   */
  restorable: boolean;
  /** Voters once restored: the largest odd number <= min(servers, surviving server-eligible modules); 0 when not restorable. */
  votersAfterRestore: number;
  /** Modules that take the server role to reach votersAfterRestore, best first. */
  promoted: string[];
  /** Names of the workloads that cannot have all their replicas placed on the survivors. */
  unplacedWorkloads: string[];
  /** Why, per workload of unplacedWorkloads (same order). */
  unplaced: UnplacedWorkload[];
  /** Exclusive peripherals all of whose attached modules failed. */
  orphanedPeripherals: string[];
}

export interface Finding {
  severity: Severity;
  /** Stable code, e.g. `plan.single-host`; never reworded once shipped. */
  code: string;
  message: string;
  /** How to fix it. */
  hint: string;
  /** The workloads, modules and peripherals involved; the main one first. */
  subjects: string[];
}
