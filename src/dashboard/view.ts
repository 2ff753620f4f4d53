/**
 * What the dashboard API serves (`GET /api/view`, the `view` server-sent event) and the web app
 * renders. Plain data: the web app imports these types only, never code, so its bundle stays free
 * of the server's dependencies.
 */
import type { Criticality, Role } from '../spec/schema.js';

/**
 * How a module is doing, from the strongest evidence available: the controller's word in the
 * EdgeBox status, then the node (fenced taint, Ready condition), then the agents' views.
 */
export type Health = 'healthy' | 'suspect' | 'failed' | 'fenced' | 'unknown';

export interface DashboardView {
  /** The box's name, from the spec. */
  box: string;
  /** When this view was computed (RFC 3339, ms). */
  at: string;
  cluster: ClusterState;
  /** Kill and revive are possible: the dashboard was started on a local box (`--local-dir`). */
  local: boolean;
  controlPlane: { servers: string[]; quorum: number; failuresTolerated: number; promotable: string[]; leader?: string };
  modules: ModuleView[];
  workloads: WorkloadView[];
  timeline: TimelineEntry[];
  /** The watch events this view is the first to include (what made it change). */
  causes: WatchRecord[];
}

/** Whether the dashboard sees a cluster; without one, the spec-only views (what-if) still work. */
export type ClusterState =
  { state: 'none'; message: string } | { state: 'connecting' | 'connected'; server: string } | { state: 'error'; server: string; message: string };

export interface ModuleView {
  name: string;
  /** Position in the enclosure: the power driver's slot, else the spec order, from 1. */
  slot: number;
  hardware: { id: string; name: string; cpuCores: number; memoryBytes: number; accelerator?: string };
  /** The spec's address on the box network. */
  address: string;
  /** The node's InternalIP when it differs (a local box puts modules on 127.0.1.N). */
  nodeAddress?: string;
  /** Roles the spec allows. */
  roles: Role[];
  /** The role it serves now. */
  role: Role;
  /** Where `role` comes from: the controller's status, the node's labels, or the plan. */
  roleSource: 'status' | 'node' | 'plan';
  etcdLeader: boolean;
  health: Health;
  /** Why, in words: the evidence behind `health`. */
  healthReason: string;
  /** Highest suspicion any fresh agent view reports, in whole missed heartbeat intervals. */
  suspicion?: number;
  /** How many fresh agent views see this module unreachable, out of how many. */
  witnesses?: { unreachable: number; views: number; quorum: number };
  /** Stopped by `kill` in the local box (its heartbeats stopped; detection may not have happened yet). */
  poweredOff: boolean;
  /** Pod requests against the node's allocatable. Absent without a node. */
  resources?: { cpuRequestedMillis: number; cpuAllocatableMillis: number; memoryRequestedBytes: number; memoryAllocatableBytes: number };
  /** Pods bound to the module. */
  pods: PodRef[];
  peripherals: PeripheralRef[];
  /** The node's unprefixed (user) labels, or the spec's labels without a node. */
  labels: Record<string, string>;
}

export interface PodRef {
  name: string;
  namespace: string;
  workload?: string;
  node?: string;
  phase: string;
  ready: boolean;
  terminating: boolean;
  createdAt?: string;
}

export interface PeripheralRef {
  name: string;
  kind: string;
  exclusive: boolean;
  /** The module drives it: from the cluster (owner label or status), else the plan's placement. */
  owner: boolean;
  ownerSource?: 'cluster' | 'plan';
}

export interface WorkloadView {
  name: string;
  kind: 'deployment' | 'statefulset' | 'daemonset';
  criticality: Criticality;
  singleton: boolean;
  peripherals: string[];
  pods: PodRef[];
  /** Modules with a running, not terminating, pod of it. */
  runningOn: string[];
  /** Where the plan puts it with every module up. */
  planned: string[];
  /** Every module that could host it (plan's capable set). */
  capable: string[];
  state: 'running' | 'starting' | 'moving' | 'down' | 'not-deployed';
  lastFailover?: Failover;
}

export interface Failover {
  from?: string;
  to?: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  /** The controller's record (EdgeBox status), or derived from pod replacement timestamps. */
  source: 'status' | 'pods';
  /** The controller's phases, when it reports them. */
  phases?: { detectionMs?: number; fencingMs?: number; readyMs?: number };
}

export type TimelineKind = 'detection' | 'fencing' | 'eviction' | 'handover' | 'placement' | 'promotion' | 'rejoin';

export interface TimelineEntry {
  /** Stable across views: the Event's uid. */
  id: string;
  at: string;
  kind: TimelineKind;
  /** The Event's reason (NodeNotReady, ModuleFenced...). */
  reason: string;
  module?: string;
  workload?: string;
  message: string;
  /** From the start of what this step belongs to (see docs/dashboard.md for each kind). */
  durationMs?: number;
  /** Who reported it (the Event's source component). */
  source: string;
}

/** One watch event as the dashboard received it: what the latency of a live update is measured from. */
export interface WatchRecord {
  kind: 'Node' | 'Pod' | 'Event' | 'Lease' | 'EdgeBox' | 'LocalState';
  type: 'add' | 'update' | 'delete';
  name: string;
  namespace?: string;
  resourceVersion?: string;
  /** Epoch ms when the dashboard received it. */
  receivedAt: number;
}

/** `GET /api/what-if?modules=a,b`: the plan's scenario for losing those modules. */
export interface WhatIfView {
  failed: string[];
  quorumKept: boolean;
  restorable: boolean;
  quorum: number;
  /** Initial servers that survive. */
  survivingServers: string[];
  votersAfterRestore: number;
  promoted: string[];
  unplaced: { workload: string; reason: string; missingReplicas: number; wantedReplicas: number }[];
  orphanedPeripherals: string[];
  /** One sentence per consequence, worst first, for people and screen readers. */
  summary: string[];
}
