import type { Capability } from '../../catalog/capabilities.js';

/** Something discovery could not read or decide, and what to do about it. Not an error. */
export interface Note {
  /** Stable code, e.g. `discovery.file-missing`. */
  code: string;
  message: string;
}

export interface DiscoveredAccelerator {
  kind: 'gpu' | 'npu';
  name: string;
  /** The extended resource it is advertised as (the catalog's `accelerator.resource`). */
  resource: string;
  count: number;
}

export interface DiscoveryResources {
  /** `MemTotal`: what the kernel manages, a little under the module's nominal size. */
  memoryBytes: number | null;
  cpus: number | null;
  accelerator: DiscoveredAccelerator | null;
  /** Counted devices, published as extended resources on the node (`nvidia.com/gpu: 1`). */
  extended: Record<string, number>;
}

export interface Discovery {
  /** The catalog hardware id this module is, or null when discovery cannot tell. */
  hardware: string | null;
  board: {
    /** `/proc/device-tree/model`. */
    model: string | null;
    /** `/proc/device-tree/compatible`, most specific first. */
    compatible: string[];
    arch: 'arm64' | 'amd64' | null;
    /** Jetson Linux release from `/etc/nv_tegra_release`, e.g. `R35.4.1`. */
    l4t: string | null;
  };
  /** What the module can do, vocabulary names only, sorted. */
  capabilities: Capability[];
  /** For each capability, the paths that showed it. */
  evidence: Partial<Record<Capability, string[]>>;
  resources: DiscoveryResources;
  /**
   * The NVIDIA container runtime where K3s looks for it (the first of NVIDIA_RUNTIME_PATHS that
   * exists), or null: without it K3s registers no `nvidia` runtime and a pod with
   * `runtimeClassName: nvidia` cannot start on the module.
   */
  nvidiaRuntime: string | null;
  notes: Note[];
}
