import type { Health } from './view.js';
import type { ModuleHealth, FailoverStatus } from '../contract/edgebox-status.js';

/**
 * Tolerant readers of the EdgeBox status fields the controller writes (`modules[]`,
 * `failovers[]`: src/controller/status.ts) and later issues add (`peripherals[]`,
 * `controlPlane.leader`). The CRD keeps those open, so anything unexpected reads as absent
 * instead of breaking the dashboard.
 */

export interface StatusModule {
  name: string;
  health?: Health;
  role?: 'server' | 'agent';
  suspicion?: number;
}

export interface StatusFailover {
  module?: string;
  workloads: string[];
  at?: number;
  detectionMs?: number;
  fencingMs?: number;
  readyMs?: number;
}

/** The controller's health words, as the dashboard shows them; settling = fenced until the settle period ends. */
const HEALTHS: Record<ModuleHealth, Health> = {
  Healthy: 'healthy',
  Suspected: 'suspect',
  Failed: 'failed',
  Fenced: 'fenced',
  Settling: 'fenced',
  Unknown: 'unknown',
};
const record = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.map(record).filter((x) => x !== undefined) : []);

export function statusModules(status: Record<string, unknown> | undefined): StatusModule[] {
  return list(status?.modules).flatMap((m) => {
    const name = str(m.name) ?? str(m.module);
    if (!name) return [];
    const health = HEALTHS[str(m.health) as ModuleHealth];
    const role = str(m.role)?.toLowerCase();
    const suspicion = num(m.suspicion);
    return [
      {
        name,
        ...(health ? { health } : {}),
        ...(role === 'server' || role === 'agent' ? { role } : {}),
        ...(suspicion !== undefined ? { suspicion } : {}),
      },
    ];
  });
}

/** A duration of the controller's `durations` (seconds) in ms. */
function durationMs(durations: Record<string, unknown> | undefined, name: keyof FailoverStatus['durations']): number | undefined {
  const s = num(durations?.[name]);
  return s === undefined ? undefined : Math.round(s * 1000);
}

export function statusFailovers(status: Record<string, unknown> | undefined): StatusFailover[] {
  return list(status?.failovers).map((f) => {
    const at = str(f.detectedAt);
    const t = at ? new Date(at).getTime() : NaN;
    const module = str(f.module);
    const durations = record(f.durations);
    const detectionMs = durationMs(durations, 'detection');
    const fencingMs = durationMs(durations, 'fencing');
    // The whole failover, from the module's last heartbeat to the replacement Ready.
    const readyMs = durationMs(durations, 'total');
    return {
      ...(module ? { module } : {}),
      workloads: Array.isArray(f.workloads) ? f.workloads.filter((w): w is string => typeof w === 'string') : [],
      ...(Number.isNaN(t) ? {} : { at: t }),
      ...(detectionMs !== undefined ? { detectionMs } : {}),
      ...(fencingMs !== undefined ? { fencingMs } : {}),
      ...(readyMs !== undefined ? { readyMs } : {}),
    };
  });
}

/** Peripheral -> owning module, from `status.peripherals[]` (`name`, `owner`). */
export function statusPeripheralOwners(status: Record<string, unknown> | undefined): Map<string, string> {
  return new Map(
    list(status?.peripherals).flatMap((p) => {
      const name = str(p.name);
      const owner = str(p.owner);
      return name && owner ? [[name, owner] as const] : [];
    }),
  );
}

/** The etcd leader: `status.controlPlane.leader`, a module name or an object with `module`. */
export function statusLeader(status: Record<string, unknown> | undefined): string | undefined {
  const leader = record(status?.controlPlane)?.leader;
  return str(leader) ?? str(record(leader)?.module);
}
