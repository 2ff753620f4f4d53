import { boardKey } from '../catalog/power-boards.js';
import type { PowerDriver, PowerSpec } from './driver.js';
import type { BoxSpec } from '../spec/schema.js';
import type { BmcCredentials } from './turingpi-bmc.js';

/** Whether a module of the box is powered through a Turing Pi BMC, whose login (and certificate) the agents and the controller then need. */
export const boxUsesBmc = (box: BoxSpec): boolean => box.spec.modules.some((m) => m.power?.driver === 'turingpi-bmc');

export interface DriverOptions {
  /** --local-dir: the local box whose processes the `local` driver stops. */
  localDir?: string;
  /** Turing Pi 2 BMC login (EDGEBOX_BMC_USERNAME / EDGEBOX_BMC_PASSWORD); none for firmware before 2.0. */
  bmc?: BmcCredentials;
  /** For tests: the HTTP client of the BMC driver. Default: global fetch. */
  fetch?: typeof fetch;
}

/**
 * The driver of each power spec of a box, for the controller and the agents alike, made once at
 * start. Each kind is loaded only when a spec uses it: the `local` one (src/local) pulls in the
 * Kubernetes client, and the agent has a memory budget. One BMC driver per endpoint (one board),
 * shared by its slots. Undefined when no spec needs power, or when one uses the `local` driver
 * outside a local box (no `localDir`): the caller says what that means for it.
 */
export async function powerDrivers(specs: readonly PowerSpec[], o: DriverOptions): Promise<((p: PowerSpec) => PowerDriver) | undefined> {
  if (specs.length === 0 || (specs.some((p) => p.driver === 'local') && !o.localDir)) return undefined;
  let local: PowerDriver | undefined;
  if (specs.some((p) => p.driver === 'local')) {
    const { LocalPowerDriver } = await import('../local/power-driver.js');
    local = new LocalPowerDriver(o.localDir!);
  }
  // Keyed by board, so that two spellings of one BMC's URL share one driver (one session).
  const bmcs = new Map<string, PowerDriver>();
  if (specs.some((p) => p.driver === 'turingpi-bmc')) {
    const { TuringPiBmcDriver } = await import('./turingpi-bmc.js');
    for (const p of specs) {
      if (p.driver === 'turingpi-bmc' && !bmcs.has(boardKey(p))) {
        const endpoint = p.endpoint ?? TuringPiBmcDriver.DEFAULT_ENDPOINT;
        bmcs.set(boardKey(p), new TuringPiBmcDriver({ endpoint, ...(o.bmc ? { credentials: o.bmc } : {}), ...(o.fetch ? { fetch: o.fetch } : {}) }));
      }
    }
  }
  return (p) => (p.driver === 'local' ? local! : bmcs.get(boardKey(p))!);
}
