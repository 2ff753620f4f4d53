/**
 * How a self-fencing agent stops its module's singleton pods: `k3s` on a real module (the
 * container runtime, through crictl), `local` in a local box (KWOK runs no containers, so it
 * records what it would stop). The agent's fence loop (self-fence-loop.ts) only speaks this interface.
 */

export const RUNTIME_DRIVERS = ['k3s', 'local', 'none'] as const;
export type RuntimeDriverName = (typeof RUNTIME_DRIVERS)[number];

export interface RuntimeDriver {
  readonly name: RuntimeDriverName;
  /** Whether the module is fenced from an earlier run of the agent (it crashed or restarted while fenced). */
  isFenced(): Promise<boolean>;
  /** Stops the module's singleton pods; returns them as `namespace/name`. Throws a diagnostic when it cannot. */
  fence(): Promise<string[]>;
  /**
   * Called on every check while fenced: stops any singleton pod that runs again (idempotent);
   * returns those it stopped.
   */
  keepFenced(): Promise<string[]>;
  /** Lets the module run its pods again; the controller's taint and settle period decide when it gets any. */
  lift(): Promise<void>;
}

/** No driver (`--runtime none`): the agent decides and reports, and stops nothing. */
export function noRuntime(): RuntimeDriver {
  return {
    name: 'none',
    isFenced: async () => false,
    fence: async () => [],
    keepFenced: async () => [],
    lift: async () => undefined,
  };
}
