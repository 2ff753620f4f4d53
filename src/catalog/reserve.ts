import type { HardwareModel } from './hardware.js';

const MiB = 2 ** 20;

/**
 * What the OS and K3s itself take on a module, kept out of what workloads may use. K3s measures
 * about 270 MB for an agent and 1.6 GB for a server with embedded etcd on a Raspberry Pi 4
 * (docs.k3s.io, resource profiling); the OS takes about 250 MB more. These are also written to
 * the kubelet's `system-reserved` / `kube-reserved` by `render`, so plans and nodes agree.
 */
export const RESERVE = {
  system: { cpuMillis: 100, memoryBytes: 256 * MiB },
  agent: { cpuMillis: 150, memoryBytes: 256 * MiB },
  server: { cpuMillis: 650, memoryBytes: 1536 * MiB },
} as const;

export const MAX_PODS = 110;

export type ServingRole = 'server' | 'agent';

/** K3s's documented server minimum: 2 cores and 2 GB. */
export function meetsServerMinimum(hw: HardwareModel): boolean {
  return hw.cpuCores >= 2 && hw.memoryBytes >= 2 * 1024 ** 3;
}

export interface Resources {
  cpuMillis: number;
  memoryBytes: number;
}

/** kube-reserved for a module in a role: K3s's own share. */
export function kubeReserved(role: ServingRole): Resources {
  return { ...RESERVE[role] };
}

/** What workloads may use on a module in a role: capacity minus system and K3s reserves. */
export function allocatable(hw: HardwareModel, role: ServingRole): Resources {
  const k = kubeReserved(role);
  return {
    cpuMillis: Math.max(0, hw.cpuCores * 1000 - RESERVE.system.cpuMillis - k.cpuMillis),
    memoryBytes: Math.max(0, hw.memoryBytes - RESERVE.system.memoryBytes - k.memoryBytes),
  };
}
