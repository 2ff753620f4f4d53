import type { Capability } from '../catalog/capabilities.js';
import type { EdgeBoxFinding } from '../crd/findings-status.js';
import type { Severity } from '../diagnostics/diagnostic.js';
import { CUDA_CAPABILITY, NVIDIA_RUNTIME_CLASS } from '../render/gpu-runtime.js';
import { nodeTaints, placementTolerations, tolerates } from '../render/node-metadata.js';
import { moduleCapabilities } from '../spec/derive.js';
import type { BoxSpec, ModuleSpec, WorkloadSpec } from '../spec/schema.js';
import type { Discovery } from './discovery/types.js';

/** Who raised a finding; each source replaces only its own findings in the EdgeBox status. */
export type FindingSource = 'discovery';

/** A disagreement discovery found between the spec and the module; always with a hint. */
export type Finding = EdgeBoxFinding & { hint: string; source: FindingSource };

/**
 * Capabilities that are part of the module itself, so discovery must find them whenever the
 * catalog says the hardware has them. The others (a CSI camera, a CAN bus, an SSD, spidev) need
 * something on the carrier or an overlay, so they count only when the spec asks for them.
 */
const INTRINSIC: ReadonlySet<Capability> = new Set(['gpu', 'gpu.cuda', 'dla', 'npu']);

/** The Event reason for a finding code (`discovery.capability-missing` → `CapabilityMissing`). */
export function eventReason(code: string): string {
  const name = code.slice(code.indexOf('.') + 1);
  return name
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/**
 * Whether the spec lets a workload run on a module: the module has every capability it requires
 * (as the spec declares them), reaches every peripheral it uses, and its taints admit it — the
 * same rules as its node affinity and tolerations.
 */
function placeableOn(box: BoxSpec, w: WorkloadSpec, m: ModuleSpec): boolean {
  const caps = moduleCapabilities(m);
  return (
    w.requires.capabilities.every((c) => caps.has(c)) &&
    w.peripherals.every((p) => box.spec.peripherals.find((q) => q.name === p)?.attachedTo.includes(m.name)) &&
    tolerates(placementTolerations(box, w), nodeTaints(box, m))
  );
}

/**
 * Compares what discovery found on a module with what the spec says it is. Pure.
 * - the hardware differs from `hardware:` (error), or cannot be told (warning);
 * - a capability a workload placeable there requires is missing (error: the scheduler will put
 *   it there on the strength of the declared label, and it will fail);
 * - a capability the spec adds for the carrier, or an intrinsic one of the declared hardware,
 *   is missing (warning).
 */
export function compareWithSpec(box: BoxSpec, m: ModuleSpec, d: Discovery): Finding[] {
  const findings: Finding[] = [];
  const add = (code: string, severity: Severity, message: string, hint: string) =>
    findings.push({ code, severity, module: m.name, message, hint, source: 'discovery' });

  if (d.hardware === null) {
    add(
      'discovery.hardware-unknown',
      'warning',
      `module '${m.name}' could not be identified; the spec says it is ${m.hardware}`,
      'run `edgebox agent discover` on the module and read its notes',
    );
  } else if (d.hardware !== m.hardware) {
    add(
      'discovery.hardware-mismatch',
      'error',
      `module '${m.name}' is ${d.hardware}, but the spec says ${m.hardware}`,
      `set hardware: ${d.hardware} for module '${m.name}' in the spec, or check that the module in its slot is the one the spec means`,
    );
  }

  const found = new Set<string>(d.capabilities);
  const reliedOnBy = new Map<string, string[]>();
  for (const w of box.spec.workloads) {
    if (!placeableOn(box, w, m)) continue;
    for (const c of w.requires.capabilities) reliedOnBy.set(c, [...(reliedOnBy.get(c) ?? []), w.name]);
  }
  const declaredByCatalog = [...moduleCapabilities(m)].filter((c) => INTRINSIC.has(c as Capability) && !m.capabilities.includes(c));
  const expected = new Set([...reliedOnBy.keys(), ...m.capabilities, ...declaredByCatalog]);
  for (const c of [...expected].sort()) {
    if (found.has(c)) continue;
    const workloads = reliedOnBy.get(c);
    const why = workloads
      ? `workload${workloads.length > 1 ? 's' : ''} ${workloads.join(', ')} ${workloads.length > 1 ? 'rely' : 'relies'} on it`
      : m.capabilities.includes(c)
        ? 'the spec adds it for the carrier'
        : `${m.hardware} has it`;
    add(
      'discovery.capability-missing',
      workloads ? 'error' : 'warning',
      `module '${m.name}' has no ${c}, but ${why}`,
      `check the hardware and drivers behind '${c}' on '${m.name}' (edgebox agent discover lists what was found and why not), or drop '${c}' from the module in the spec`,
    );
  }
  // CUDA workloads run with runtimeClassName nvidia (src/render/gpu-runtime.ts); K3s registers
  // that handler only when it finds the NVIDIA container runtime on the module.
  const cuda = reliedOnBy.get(CUDA_CAPABILITY);
  if (d.nvidiaRuntime === null && (cuda || moduleCapabilities(m).has(CUDA_CAPABILITY))) {
    add(
      'discovery.nvidia-runtime-missing',
      cuda ? 'error' : 'warning',
      `module '${m.name}' has no NVIDIA container runtime${cuda ? `, but workload${cuda.length > 1 ? 's' : ''} ${cuda.join(', ')} run${cuda.length > 1 ? '' : 's'} with runtimeClassName ${NVIDIA_RUNTIME_CLASS}` : ', so CUDA workloads cannot start there'}`,
      `install the NVIDIA container toolkit on '${m.name}' (JetPack's nvidia-container package, or nvidia-container-toolkit) and restart K3s, which then registers the '${NVIDIA_RUNTIME_CLASS}' runtime`,
    );
  }
  return findings;
}
