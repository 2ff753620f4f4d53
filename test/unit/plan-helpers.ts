import { parseSpec } from '../../src/spec/load.js';
import type { BoxSpec } from '../../src/spec/schema.js';

/** Loose input for a box: what a user would write, before defaults. */
export interface BoxInput {
  servers?: number;
  modules: Record<string, unknown>[];
  peripherals?: Record<string, unknown>[];
  workloads?: Record<string, unknown>[];
  placement?: Record<string, unknown>;
}

/**
 * A validated box from plain objects, through the real loader (JSON is YAML), so tests only
 * ever plan boxes that `edgebox plan` would accept. Modules get addresses by position.
 */
export function boxOf(input: BoxInput): BoxSpec {
  const doc = {
    apiVersion: 'edgebox.dev/v1alpha1',
    kind: 'EdgeBox',
    metadata: { name: 'test-box' },
    spec: {
      controlPlane: { servers: input.servers ?? 1 },
      modules: input.modules.map((m, i) => ({ address: `10.0.0.${i + 1}`, ...m })),
      peripherals: input.peripherals ?? [],
      workloads: (input.workloads ?? []).map((w) => ({ image: 'example/app:1', ...w })),
      ...(input.placement ? { placement: input.placement } : {}),
    },
  };
  return parseSpec(JSON.stringify(doc), 'test-box.yaml').box;
}

export const mod = (name: string, hardware = 'rpi-cm4-4gb', extra: Record<string, unknown> = {}) => ({ name, hardware, ...extra });
