import type { FenceMethod } from './fencing.js';
import type { RoleChange } from './control-plane.js';

/**
 * The shape of `EdgeBox.status` as the controller writes it and `edgebox status`, the dashboard
 * and the benches read it: modules, failovers, the control plane and the peripherals.
 */

/** A module's health as the controller reports it. */
export type ModuleHealth = 'Healthy' | 'Suspected' | 'Failed' | 'Fenced' | 'Settling' | 'Unknown';

export interface ModuleStatus {
  name: string;
  node?: string;
  health: ModuleHealth;
  role: 'server' | 'agent';
  /** Highest suspicion (missed heartbeat intervals) among the fresh views of the other agents. */
  suspicion: number;
  /** The agents that report it unreachable. */
  unreachableBy: string[];
  fenceMethod?: FenceMethod;
  fenceCount?: number;
  healthySince?: string;
}

export interface FailoverStatus {
  module: string;
  /** When the witnesses last heard the module. */
  lastSeenAt?: string;
  detectedAt: string;
  witnesses: string[];
  /** The workloads whose pods it released, so a view can tie the failover to each of them. */
  workloads?: string[];
  method?: FenceMethod;
  fencedAt?: string;
  releasedAt?: string;
  readyAt?: string;
  powerError?: string;
  /** Seconds: lastSeen -> detected, detected -> fenced, fenced -> released, released -> ready, lastSeen -> ready. */
  durations: { detection?: number; fencing?: number; release?: number; ready?: number; total?: number };
}

export interface ControlPlaneStatus {
  voters: { module: string; healthy: boolean; memberId: string }[];
  /** Members still catching up (etcd learners): they do not vote yet. */
  learners: string[];
  /** The etcd leader's module, or null when unknown. */
  leader: string | null;
  /** A majority of the voters is healthy. */
  quorum: boolean;
  /** The number of voters to keep (spec.controlPlane.servers). */
  servers: number;
  pending: PendingChange | null;
  history: ControlPlaneHistoryEntry[];
  message?: string;
  /** RFC 3339: since when fewer than `servers` voters have been healthy; absent when all are. */
  degradedSince?: string;
}

/** A change of HistoryEntry, or the box-wide `restored`: back to `servers` healthy voters (durationMs from degradedSince). */
export type ControlPlaneHistoryEntry = HistoryEntry | { at: string; type: 'restored'; module?: undefined; reason: string; durationMs: number };

export type HistoryType = 'promote' | 'remove' | 'demote' | 'reset' | 'cancel';

export interface HistoryEntry {
  /** RFC 3339: when the change ended. */
  at: string;
  type: HistoryType;
  module: string;
  reason: string;
  /** From the request to the end of the change. */
  durationMs?: number;
}

export interface PendingChange {
  type: RoleChange['type'];
  module: string;
  reason: string;
  /** RFC 3339: when the guardian asked for it. */
  since?: string;
}

/**
 * `EdgeBox.status.peripherals[]`: every peripheral of the spec with its owner and fencing token.
 * `name`, `owner` and `token` are read by `edgebox status` and the dashboard: keep them.
 */
export interface PeripheralStatus {
  name: string;
  kind: string;
  exclusive: boolean;
  attachedTo: string[];
  /** The module that owns it; null while nobody does, and for shared (non-exclusive) peripherals. */
  owner: string | null;
  /** The fencing token of the current ownership (0: never owned, or shared). */
  token: number;
  /** `Owned`; `Releasing` (its owner was asked to let go); `Expired` (its owner stopped renewing); `Unowned`; `Shared`. */
  phase: 'Owned' | 'Releasing' | 'Expired' | 'Unowned' | 'Shared';
  /** When the owner got it (RFC 3339). */
  since?: string;
  /** A planned move asked for and not yet done. */
  moveTo?: string;
}
