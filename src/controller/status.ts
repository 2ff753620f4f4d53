import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Log } from '../base/log.js';
import { nodeOfModule } from '../apply/node-plan.js';
import { GROUP, PLURAL, VERSION } from '../crd/edgebox-crd.js';
import type { EdgeBoxStatus } from '../crd/findings-status.js';
import { initialServers } from '../plan/control-plane.js';
import { assess, isHealthy, type Observed } from './decide.js';
import { failoverOf, fenceMethodOf } from './model.js';
import { apiStatus, isNotFound } from '../kube/client.js';
import { FENCE_ANNOTATIONS } from '../contract/fencing.js';
import type { ControlPlaneStatus, PeripheralStatus, ModuleHealth, ModuleStatus, FailoverStatus } from '../contract/edgebox-status.js';
import { LABELS } from '../contract/labels.js';
import { apiClient } from '../kube/api-client.js';

/**
 * The controller's part of the EdgeBox status: `modules[]` (health, role, suspicion of every
 * module) and `failovers[]` (the last 20, with their durations). Computed from the observed
 * state alone; written through the status subresource, merged with what other writers
 * (discovery's findings and conditions) keep there.
 */

export const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';
export const MAX_FAILOVERS = 20;
const iso = (t: number) => new Date(t).toISOString();
const seconds = (from: number | null | undefined, to: number | null | undefined) =>
  from === null || from === undefined || to === null || to === undefined ? undefined : Math.round((to - from) / 10) / 100;

/** Every module's line in the status. Pure. */
export function moduleStatuses(o: Observed): ModuleStatus[] {
  const labelled = o.nodes.some((n) => n.labels[CONTROL_PLANE_LABEL] !== undefined);
  const planned = new Set(initialServers(o.box).map((m) => m.name));
  return o.box.spec.modules.map((m) => {
    const ref = nodeOfModule(
      o.nodes.map((n) => ({ metadata: { name: n.name, labels: n.labels } })),
      m.name,
    );
    const n = ref ? o.nodes.find((x) => x.name === ref.metadata.name) : undefined;
    const a = assess(o, m.name, n?.name);
    // Nodes say which are servers where K3s labels them; before that (or in a local box, whose
    // nodes have no such label) the plan's initial servers are.
    const role = (labelled ? n?.labels[CONTROL_PLANE_LABEL] !== undefined : planned.has(m.name)) ? 'server' : 'agent';
    const method = n ? fenceMethodOf(n) : undefined;
    const since = n?.annotations[FENCE_ANNOTATIONS.healthySince];
    let health: ModuleHealth;
    if (!n) health = 'Unknown';
    else if (method) health = since && isHealthy(n, a) ? 'Settling' : 'Fenced';
    else if (a.failed || failoverOf(n)) health = 'Failed';
    else if (a.unreachableBy.length > 0) health = 'Suspected';
    else if (a.reachableBy.length === 0 && n.ready !== 'True') health = 'Unknown';
    else health = 'Healthy';
    const count = Number.parseInt(n?.annotations[FENCE_ANNOTATIONS.fenceCount] ?? '', 10);
    return {
      name: m.name,
      ...(n ? { node: n.name } : {}),
      health,
      role,
      suspicion: a.suspicion,
      unreachableBy: a.unreachableBy,
      ...(method ? { fenceMethod: method } : {}),
      ...(method && count > 0 ? { fenceCount: count } : {}),
      ...(since ? { healthySince: since } : {}),
    };
  });
}

/** The failovers in progress, one per module that has a failover record. Pure. */
export function currentFailovers(o: Observed): FailoverStatus[] {
  return o.nodes.flatMap((n) => {
    const r = failoverOf(n);
    if (!r) return [];
    const module = o.box.spec.modules.find((m) => m.name === n.name || m.name === n.labels[LABELS.module])?.name ?? n.name;
    const method = fenceMethodOf(n);
    const fencedAt = method ? Date.parse(n.annotations[FENCE_ANNOTATIONS.fencedAt] ?? '') : Number.NaN;
    const fenced = Number.isNaN(fencedAt) ? undefined : fencedAt;
    const durations = {
      detection: seconds(r.lastSeenAt, r.detectedAt),
      fencing: seconds(r.detectedAt, fenced),
      release: seconds(fenced, r.releasedAt),
      ready: seconds(r.releasedAt, r.readyAt),
      total: seconds(r.lastSeenAt ?? r.detectedAt, r.readyAt),
    };
    return [
      {
        module,
        ...(r.lastSeenAt !== null ? { lastSeenAt: iso(r.lastSeenAt) } : {}),
        detectedAt: iso(r.detectedAt),
        witnesses: r.witnesses,
        ...(r.workloads !== undefined ? { workloads: r.workloads } : {}),
        ...(method ? { method } : {}),
        ...(fenced !== undefined ? { fencedAt: iso(fenced) } : {}),
        ...(r.releasedAt !== undefined ? { releasedAt: iso(r.releasedAt) } : {}),
        ...(r.readyAt !== undefined ? { readyAt: iso(r.readyAt) } : {}),
        ...(r.powerError !== undefined ? { powerError: r.powerError } : {}),
        durations: Object.fromEntries(Object.entries(durations).filter(([, v]) => v !== undefined)),
      },
    ];
  });
}

/**
 * The failover history: the status's entries, each one in progress updated in place (a failover
 * is its module and detection time), newest last, the last `keep` kept. A failover that ended
 * (its module rejoined) stays as it was last seen. Pure.
 */
export function mergeFailovers(existing: readonly FailoverStatus[], current: readonly FailoverStatus[], keep = MAX_FAILOVERS): FailoverStatus[] {
  const key = (f: FailoverStatus) => `${f.module}@${f.detectedAt}`;
  const byKey = new Map(existing.map((f) => [key(f), f]));
  for (const f of current) byKey.set(key(f), f);
  return [...byKey.values()].sort((a, b) => a.detectedAt.localeCompare(b.detectedAt) || a.module.localeCompare(b.module)).slice(-keep);
}

interface EdgeBoxObject {
  metadata: { name: string; resourceVersion?: string };
  status?: EdgeBoxStatus & { modules?: ModuleStatus[]; failovers?: FailoverStatus[]; peripherals?: PeripheralStatus[]; controlPlane?: ControlPlaneStatus };
}

/**
 * Writes `modules` and `failovers` into the EdgeBox status when they changed: read, merge,
 * replace with the read resourceVersion (a concurrent writer's fields survive; on a conflict it
 * reads and merges again). A missing EdgeBox object is reported once: `edgebox apply` or
 * discovery creates it.
 */
export class StatusWriter {
  private readonly api: CustomObjectsApi;
  private missingReported = false;

  constructor(
    kc: KubeConfig,
    private readonly o: { box: string; log: Log },
  ) {
    this.api = apiClient(kc, CustomObjectsApi);
  }

  /** `peripherals`: the peripheral reconciler's part (src/controller/peripherals/status.ts), written with the rest. */
  /**
   * `controlPlane`: the guardian's part (src/controller/guardian/status.ts), computed from the
   * one read here (it carries the history); its voters also say which modules are servers.
   */
  async write(
    observed: Observed,
    peripherals?: PeripheralStatus[],
    controlPlane?: (previous: ControlPlaneStatus | undefined) => ControlPlaneStatus | undefined,
  ): Promise<void> {
    const ref = { group: GROUP, version: VERSION, plural: PLURAL, name: this.o.box };
    const listed = moduleStatuses(observed);
    const current = currentFailovers(observed);
    for (let attempt = 1; attempt <= 5; attempt++) {
      let box: EdgeBoxObject;
      try {
        box = (await this.api.getClusterCustomObject(ref)) as EdgeBoxObject;
      } catch (e) {
        if (isNotFound(e)) {
          if (!this.missingReported)
            this.o.log('warn', 'no EdgeBox object to report status on', {
              box: this.o.box,
              hint: 'run `edgebox apply` (it creates the object; so does `edgebox agent publish`)',
            });
          this.missingReported = true;
          return;
        }
        throw e;
      }
      this.missingReported = false;
      const status = box.status ?? {};
      const failovers = mergeFailovers(status.failovers ?? [], current);
      const cp = controlPlane?.(status.controlPlane);
      const modules = cp?.voters.length
        ? listed.map((m) => ({ ...m, role: cp.voters.some((v) => v.module === m.name) ? ('server' as const) : ('agent' as const) }))
        : listed;
      if (
        JSON.stringify(status.modules) === JSON.stringify(modules) &&
        JSON.stringify(status.failovers ?? []) === JSON.stringify(failovers) &&
        (peripherals === undefined || JSON.stringify(status.peripherals) === JSON.stringify(peripherals)) &&
        (cp === undefined || JSON.stringify(status.controlPlane) === JSON.stringify(cp))
      )
        return;
      try {
        await this.api.replaceClusterCustomObjectStatus({
          ...ref,
          body: { ...box, status: { ...status, modules, failovers, ...(peripherals ? { peripherals } : {}), ...(cp ? { controlPlane: cp } : {}) } },
        });
        return;
      } catch (e) {
        if (!(apiStatus(e) === 409)) throw e;
      }
    }
    this.o.log('warn', 'the EdgeBox status kept changing under the controller; trying again on the next pass', { box: this.o.box });
  }
}
