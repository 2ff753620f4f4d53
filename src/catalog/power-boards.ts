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
  /** Hardware ids (by prefix) its slots take, and in words; undefined: any. */
  takes?: { prefixes: readonly string[]; words: string };
}

export const POWER_BOARDS: Record<PowerDriverKind, PowerBoard> = {
  // Four 260-pin compute-module slots, each powered by the BMC; they take the Turing RK1, NVIDIA
  // Jetson SO-DIMM modules and a Raspberry Pi CM4 (or the pin-compatible CM5) on an adapter
  // (Turing Pi 2 "Specs and I/O Ports", docs.turingpi.com).
  'turingpi-bmc': {
    name: 'Turing Pi 2',
    slots: 4,
    defaultEndpoint: 'https://turingpi.local',
    takes: { prefixes: ['turing-rk1-', 'jetson-', 'rpi-cm4-', 'rpi-cm5-'], words: 'Turing RK1, NVIDIA Jetson, and Raspberry Pi CM4/CM5 on an adapter' },
  },
  local: { name: 'a local box' },
};

/** Whether a module of this hardware id can sit in one of the board's slots. */
export function boardTakes(board: PowerBoard, hardware: string): boolean {
  return board.takes?.prefixes.some((p) => hardware.startsWith(p)) ?? true;
}

/**
 * Which board a power spec names: its driver and endpoint (the default one when unset, any
 * spelling of one URL alike). Modules on one board share its slots and fail together with it.
 */
export function boardKey(power: { driver: PowerDriverKind; endpoint?: string | undefined }): string {
  const endpoint = power.endpoint ?? POWER_BOARDS[power.driver].defaultEndpoint ?? '';
  return `${power.driver} ${URL.canParse(endpoint) ? new URL(endpoint).origin : endpoint}`;
}
