import type { BoxState } from '../local/box-state.js';

/** The faults the benches inject, said the way each is done on a local box (src/local/failure-injection.ts, partition.ts). */
export const FAULTS = {
  kill: 'module kill (power loss): SIGKILL of its agent, etcd member and API server; KWOK stops renewing its node Lease and leaves its pods Terminating',
  killServers: 'power loss of server modules at once: SIGKILL of their agents, etcd members and API servers, while writes are in flight',
  isolate: 'isolation: iptables drops everything between the module and every other module and the API address',
  partitionPeer: 'one module cut off from one peer (iptables, both ways)',
  freezeAgent: 'a slow module: its agent frozen with SIGSTOP, then resumed; its node keeps renewing',
  controllerRestart: 'controller killed with SIGKILL and started again',
  move: 'a planned move of the peripheral to another attached module',
  none: 'none: the box idles',
} as const;

const seconds = (ms: number) => `${ms / 1000} s`;

/**
 * What a bench's box simulates and what is real, from the box's own state (not from what the
 * bench meant to start), so the printed conditions are the ones the figures were measured under.
 */
export function describeSimulation(state: BoxState, faults: readonly string[]): string[] {
  const modules = Object.keys(state.addresses).length;
  const start = state.podStart;
  const podStart =
    start === undefined
      ? 'pods Ready as soon as they are scheduled (a box from before the pod start delay)'
      : start.maxMs <= 0
        ? 'pods Ready as soon as they are scheduled (--pod-start 0)'
        : `a pod is Ready ${start.minMs / 1000}-${seconds(start.maxMs)} after it is scheduled (KWOK's pod-ready delay: a container start on an SoC module)`;
  const servers =
    state.controlPlane.mode === 'single'
      ? 'one etcd member and API server for the box (--control-plane single)'
      : state.k3s
        ? `${state.controlPlane.initialServers.length} server modules, each a real \`k3s server\` ${state.k3s.version} (embedded etcd, API server, its own controller-manager and scheduler) in a network namespace of its own; the module's systemd and files played by the box (src/local/engine/k3s-host.ts)`
        : `${state.controlPlane.initialServers.length} server modules, each with its own etcd member and API server`;
  return [
    `simulated: ${modules} modules as KWOK nodes (no kubelet, no containers); ${podStart}`,
    `real: ${servers}, etcd with fsync on, scheduler and controller-manager; ${state.timings} failover timings; ${state.agents?.length ?? 0} agents, ${state.controllers?.length ?? 0} controllers${state.clockFaults ? '; each agent on a wall clock of its own' : ''}`,
    `faults: ${faults.join('; ')}`,
  ];
}
