import type { ModuleSpec } from '../spec/schema.js';

export type PowerState = 'on' | 'off' | 'unknown';

/**
 * How a module's power is cut: the strongest fence there is (a module without power runs
 * nothing). A driver only switches and reports; the controller, or during a quorum loss the
 * surviving agents, decide when.
 */
export interface PowerDriver {
  powerOff(module: string, slot: number): Promise<void>;
  state(module: string, slot: number): Promise<PowerState>;
}

export type PowerSpec = NonNullable<ModuleSpec['power']>;
