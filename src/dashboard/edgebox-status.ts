import type { Health } from './view.js';

/**
 * Tolerant readers of the EdgeBox status fields the self-healing, control-plane and peripheral
 * issues add (`modules[]`, `failovers[]`, `peripherals[]`, `controlPlane.leader`). The CRD keeps
 * those open, so anything unexpected reads as absent instead of breaking the dashboard.
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

const HEALTHS: readonly Health[] = ['healthy', 'suspect', 'failed', 'fenced', 'unknown'];
const record = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.map(record).filter((x) => x !== undefined) : []);

export function statusModules(status: Record<string, unknown> | undefined): StatusModule[] {
  return list(status?.modules).flatMap((m) => {
    const name = str(m.name) ?? str(m.module);
    if (!name) return [];
    const health = str(m.health)?.toLowerCase();
    const role = str(m.role)?.toLowerCase();
    const suspicion = num(m.suspicion);
    return [{
      name,
      ...(health && (HEALTHS as readonly string[]).includes(health) ? { health: health as Health } : {}),
      ...(role === 'server' || role === 'agent' ? { role } : {}),
      ...(suspicion !== undefined ? { suspicion } : {}),
    }];
  });
}

/** A duration given either as `<name>Ms` or `<name>Seconds`. */
function duration(entry: Record<string, unknown>, name: string): number | undefined {
  const msValue = num(entry[`${name}Ms`]);
  if (msValue !== undefined) return msValue;
  const s = num(entry[`${name}Seconds`]);
  return s === undefined ? undefined : Math.round(s * 1000);
}

export function statusFailovers(status: Record<string, unknown> | undefined): StatusFailover[] {
  return list(status?.failovers).map((f) => {
    const at = str(f.detectedAt) ?? str(f.at) ?? str(f.startedAt);
    const workloads = Array.isArray(f.workloads) ? f.workloads.filter((w): w is string => typeof w === 'string') : [];
    const one = str(f.workload);
    const t = at ? new Date(at).getTime() : NaN;
    const module = str(f.module);
    const detectionMs = duration(f, 'detection');
    const fencingMs = duration(f, 'fencing');
    const readyMs = duration(f, 'ready');
    return {
      ...(module ? { module } : {}),
      workloads: one ? [...workloads, one] : workloads,
      ...(Number.isNaN(t) ? {} : { at: t }),
      ...(detectionMs !== undefined ? { detectionMs } : {}),
      ...(fencingMs !== undefined ? { fencingMs } : {}),
      ...(readyMs !== undefined ? { readyMs } : {}),
    };
  });
}

/** Peripheral -> owning module, from `status.peripherals[]` (`name`, `owner`). */
export function statusPeripheralOwners(status: Record<string, unknown> | undefined): Map<string, string> {
  return new Map(list(status?.peripherals).flatMap((p) => {
    const name = str(p.name);
    const owner = str(p.owner);
    return name && owner ? [[name, owner] as const] : [];
  }));
}

/** The etcd leader: `status.controlPlane.leader`, a module name or an object with `module`. */
export function statusLeader(status: Record<string, unknown> | undefined): string | undefined {
  const leader = record(status?.controlPlane)?.leader;
  return str(leader) ?? str(record(leader)?.module);
}
