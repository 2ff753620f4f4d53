import { inputError } from '../../diagnostics/diagnostic.js';
import type { BoxSpec, ModuleSpec } from '../../spec/schema.js';
import { LocalPowerDriver } from './local.js';
import { TuringPiBmcDriver, type BmcCredentials } from './turingpi-bmc.js';

export type PowerState = 'on' | 'off' | 'unknown';

/**
 * How the controller cuts a module's power: the strongest fence there is (a module without
 * power runs nothing). A driver only switches and reports; the controller decides when.
 */
export interface PowerDriver {
  powerOff(module: string, slot: number): Promise<void>;
  state(module: string, slot: number): Promise<PowerState>;
}

export type PowerSpec = NonNullable<ModuleSpec['power']>;

export interface DriverOptions {
  /** --local-dir: the local box whose processes the `local` driver stops. */
  localDir?: string;
  /** Turing Pi 2 BMC login (EDGEBOX_BMC_USERNAME / EDGEBOX_BMC_PASSWORD); none for firmware before 2.0. */
  bmc?: BmcCredentials;
  /** For tests: the HTTP client of the BMC driver. Default: global fetch. */
  fetch?: typeof fetch;
}

/**
 * The driver of each power spec of the box, made once at start so that a missing setting is
 * reported before anything fails: the `local` driver needs --local-dir. One BMC driver per
 * endpoint (one board), shared by its slots.
 */
export function powerDrivers(box: BoxSpec, o: DriverOptions): (p: PowerSpec) => PowerDriver {
  const bmcs = new Map<string, TuringPiBmcDriver>();
  let local: LocalPowerDriver | undefined;
  for (const m of box.spec.modules) {
    if (!m.power) continue;
    if (m.power.driver === 'local') {
      if (!o.localDir) {
        throw inputError('controller.local-driver-without-box', `module ${m.name} uses the local power driver, which stops a local box's processes`,
          'pass --local-dir <box dir> (what `edgebox local up` runs the controller with)');
      }
      local ??= new LocalPowerDriver(o.localDir);
    } else {
      const endpoint = m.power.endpoint ?? TuringPiBmcDriver.DEFAULT_ENDPOINT;
      if (!bmcs.has(endpoint)) bmcs.set(endpoint, new TuringPiBmcDriver({ endpoint, ...(o.bmc ? { credentials: o.bmc } : {}), ...(o.fetch ? { fetch: o.fetch } : {}) }));
    }
  }
  return (p) => (p.driver === 'local' ? local! : bmcs.get(p.endpoint ?? TuringPiBmcDriver.DEFAULT_ENDPOINT)!);
}
