import type { BoxState } from '../box-state.js';
import type { Progress } from '../progress.js';
import type { Component } from '../toolchain.js';

/**
 * What runs a local box's control plane (docs/decisions/0009-k3s-engine.md). `up`, `down`,
 * `kill` and `status` go through this seam and never ask which engine it is:
 * - `process`: per server module an upstream etcd member and kube-apiserver on its 127.0.1.N,
 *   and one kube-controller-manager and kube-scheduler for the box (the default);
 * - `k3s`: per server module a real `k3s server` (embedded etcd, API server, controllers) in a
 *   network and mount namespace of its own, started from the module's rendered config.yaml.
 * Either way the modules' Nodes are KWOK's and the box's API address is the proxy on 127.0.0.1.
 */
export const ENGINES = ['process', 'k3s'] as const;
export type EngineName = (typeof ENGINES)[number];

export interface LocalEngine {
  readonly name: EngineName;
  /** The toolchain binaries (`edgebox local setup`) it runs. */
  readonly binaries: readonly Component[];
  /** The box-level components `up` starts after the servers (K3s runs its own controllers and scheduler). */
  readonly components: readonly Component[];
  /** Fails with a `local.*-not-set-up` error naming the setup to run when the engine's binaries are missing. */
  requireSetup(): Promise<void>;
  /** Records what the engine needs in the state before anything starts (so `down` can undo a half start). */
  prepare(state: BoxState): Promise<void>;
  /** Starts the initial servers and returns once each serves the API. */
  startServers(state: BoxState, servers: readonly string[], progress: Progress): Promise<void>;
  /** `address:port` of every place one of the box's API servers may run: the proxy's backends. */
  apiBackends(state: BoxState): string[];
  /** Extra labels of a server module's Node. */
  serverNodeLabels(): Record<string, string>;
  /**
   * What a module's boot does to its control plane (`local revive`), before its agent runs:
   * `process`: with no agents (no role loop), a member with data restarts; `k3s`: /run is
   * emptied, so K3s does not start by itself (render's k3s.service drop-in), enabled or not: the
   * agent's role loop restarts it once the live cluster still lists the module, as on a real one.
   */
  boot(state: BoxState, module: string): Promise<void>;
  /** The `--role-driver` of the box's agents. */
  readonly roleDriver: 'process' | 'k3s';
  /** Stops every server process and removes what `prepare` made; returns what it stopped. Idempotent. */
  stopServers(state: BoxState, graceMs?: number): Promise<string[]>;
}
