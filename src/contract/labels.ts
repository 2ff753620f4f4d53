/** Every label, annotation and taint key edgebox writes lives under this prefix. */
export const PREFIX = 'edgebox.dev';

export const LABELS = {
  box: `${PREFIX}/box`,
  module: `${PREFIX}/module`,
  hardware: `${PREFIX}/hardware`,
  workload: `${PREFIX}/workload`,
  criticality: `${PREFIX}/criticality`,
  /** On the pods of a `singleton` workload: what an agent stops when it fences itself (src/agent/self-fence). */
  singleton: `${PREFIX}/singleton`,
  /** On objects `edgebox apply` created, so it can prune what the spec no longer has. */
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

/** `edgebox.dev/cap.gpu.cuda=true`: the module has that capability. */
export const capabilityLabel = (capability: string): string => `${PREFIX}/cap.${capability}`;
/** `edgebox.dev/peripheral.motor-bus=true`: the module can physically reach that peripheral. */
export const peripheralLabel = (peripheral: string): string => `${PREFIX}/peripheral.${peripheral}`;
/** `edgebox.dev/role.server=true`: the module may take that role. */
export const roleLabel = (role: string): string => `${PREFIX}/role.${role}`;

/**
 * Discovered facts live under their own prefix, owned by the agent alone: the spec's labels say
 * what a module should be, these say what it is, and `kubectl get nodes -L` can show both.
 */
export const DISCOVERED_PREFIX = `discovered.${PREFIX}`;
/**
 * On a Node: the extended resources its agent put there, so that it removes exactly those when
 * they disappear and never one that a device plugin or an operator advertises.
 */
export const PUBLISHED_RESOURCES_ANNOTATION = `${PREFIX}/discovered-resources`;

/** Taint on GPU modules so that only workloads asking for the GPU land there (see nodeTaints). */
export const ACCELERATOR_TAINT = `${PREFIX}/accelerator`;

export const FIELD_MANAGER = 'edgebox';
