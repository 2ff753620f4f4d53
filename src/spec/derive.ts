import { findHardware, type HardwareModel } from '../catalog/hardware.js';
import type { ModuleSpec } from './schema.js';

/** What a module can do: its catalog hardware's capabilities plus what its carrier adds. */
export function moduleCapabilities(m: ModuleSpec): Set<string> {
  return new Set<string>([...(findHardware(m.hardware)?.capabilities ?? []), ...m.capabilities]);
}

/** The module's catalog entry. Only call after validation (which rejects unknown ids). */
export function hardwareOf(m: ModuleSpec): HardwareModel {
  const hw = findHardware(m.hardware);
  if (!hw) throw new Error(`unvalidated spec: unknown hardware '${m.hardware}'`);
  return hw;
}
