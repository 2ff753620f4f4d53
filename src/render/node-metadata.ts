import { hardwareOf, moduleCapabilities } from '../spec/derive.js';
import { ACCELERATOR_TAINT, capabilityLabel, LABELS, peripheralLabel, roleLabel } from '../contract/labels.js';
import type { BoxSpec, ModuleSpec, WorkloadSpec } from '../spec/schema.js';
import type { Taint } from '../contract/taints.js';

export interface Toleration {
  key?: string;
  operator: 'Equal' | 'Exists';
  value?: string;
  effect?: Taint['effect'];
  tolerationSeconds?: number;
}

/** Capabilities that mark a workload as asking for the GPU. */
const GPU_CAPABILITIES = new Set(['gpu', 'gpu.cuda', 'dla']);

/**
 * The labels a module's node carries: who it is, what it can do, what it can reach, which roles
 * it may take, plus the spec's own labels. Used by render (K3s `node-label`), `local` (the
 * simulated nodes) and `apply` (existing nodes), so all three agree.
 */
export function nodeLabels(box: BoxSpec, m: ModuleSpec): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.box]: box.metadata.name,
    [LABELS.module]: m.name,
    [LABELS.hardware]: m.hardware,
  };
  for (const c of [...moduleCapabilities(m)].sort()) labels[capabilityLabel(c)] = 'true';
  for (const p of box.spec.peripherals) if (p.attachedTo.includes(m.name)) labels[peripheralLabel(p.name)] = 'true';
  for (const r of m.roles) labels[roleLabel(r)] = 'true';
  return { ...labels, ...m.labels };
}

/**
 * GPU modules take only workloads that ask for the GPU: a Jetson's GPU shares the module's RAM,
 * so a general workload there starves the AI workload it was bought for. NPU modules (RK1) are
 * not tainted: their NPU does not compete for RAM that way, and tainting them would pile every
 * general workload onto the few plain modules. Only when the box has somewhere else for general
 * workloads: in an all-Jetson box the taint would strand them.
 */
export function nodeTaints(box: BoxSpec, m: ModuleSpec): Taint[] {
  const taints: Taint[] = [];
  // A module that may not be an agent takes no workloads: K3s's documented way to keep a
  // server dedicated is this taint, which only critical add-ons tolerate.
  if (!m.roles.includes('agent')) taints.push({ key: 'CriticalAddonsOnly', value: 'true', effect: 'NoExecute' });
  if (acceleratorTainted(box, m)) taints.push({ key: ACCELERATOR_TAINT, value: 'gpu', effect: 'NoSchedule' });
  return taints;
}

/** Whether the spec keeps a module for accelerator workloads (spec.placement.acceleratorTaint). */
function acceleratorTainted(box: BoxSpec, m: ModuleSpec): boolean {
  return box.spec.placement.acceleratorTaint && hasGpu(m) && box.spec.modules.some((o) => !hasGpu(o));
}

function hasGpu(m: ModuleSpec): boolean {
  return hardwareOf(m).accelerator?.kind === 'gpu';
}

/**
 * The placement tolerations a workload needs (failover tolerations are render's concern): the
 * accelerator taint's, for a DaemonSet, a workload that asks for the GPU, or one bound to a
 * peripheral that only accelerator modules reach (the spec put the device there, so that is
 * where the workload has to run).
 */
export function placementTolerations(box: BoxSpec, w: WorkloadSpec): Toleration[] {
  const onlyOnAccelerators = (p: string) => {
    const attached = box.spec.peripherals.find((q) => q.name === p)?.attachedTo ?? [];
    const modules = box.spec.modules.filter((m) => attached.includes(m.name));
    return modules.length > 0 && modules.every((m) => acceleratorTainted(box, m));
  };
  const tolerate = w.kind === 'daemonset' || w.requires.capabilities.some((c) => GPU_CAPABILITIES.has(c)) || w.peripherals.some(onlyOnAccelerators);
  return tolerate ? [{ key: ACCELERATOR_TAINT, operator: 'Exists', effect: 'NoSchedule' }] : [];
}

/** Whether a workload's tolerations let it onto a module (the scheduler's rule, for the planner). */
export function tolerates(tolerations: readonly Toleration[], taints: readonly Taint[]): boolean {
  return taints.every(
    (t) =>
      t.effect === 'PreferNoSchedule' ||
      tolerations.some(
        (tol) =>
          (tol.key === undefined || tol.key === t.key) &&
          (tol.effect === undefined || tol.effect === t.effect) &&
          (tol.operator === 'Exists' || tol.value === t.value),
      ),
  );
}
