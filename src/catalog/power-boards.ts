/** `local`: in a local box, powering off stops all of the module's processes. */
export const POWER_DRIVERS = ['turingpi-bmc', 'local'] as const;
export type PowerDriverKind = (typeof POWER_DRIVERS)[number];

/** The board a power driver switches: how many slots it has and where it is reached. */
export interface PowerBoard {
  name: string;
  /** Slots numbered from 1; undefined where a slot means nothing (a local box). */
  slots?: number;
  /** Where the driver is reached when the spec names no endpoint. */
  defaultEndpoint?: string;
}

export const POWER_BOARDS: Record<PowerDriverKind, PowerBoard> = {
  // Four compute-module slots, each powered by the BMC (Turing Pi 2 specifications, docs.turingpi.com).
  'turingpi-bmc': { name: 'Turing Pi 2', slots: 4, defaultEndpoint: 'https://turingpi.local' },
  local: { name: 'a local box' },
};
