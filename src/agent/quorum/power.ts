import type { PowerDriver, PowerSpec } from '../../controller/power/driver.js';
import type { BmcCredentials } from '../../controller/power/turingpi-bmc.js';

/**
 * The power drivers an agent fences missing voters with during a quorum loss: the controller's
 * own drivers (src/controller/power), loaded only for the kinds the spec uses, since the `local`
 * one pulls in the Kubernetes client and the agent has a memory budget. Undefined when no module
 * has a power spec, or a `local` one is used outside a local box (no --local-dir).
 */
export async function agentPowerDrivers(power: Readonly<Record<string, PowerSpec>>, o: { localDir?: string; bmc?: BmcCredentials }): Promise<((p: PowerSpec) => PowerDriver) | undefined> {
  const specs = Object.values(power);
  if (specs.length === 0 || (specs.some((p) => p.driver === 'local') && !o.localDir)) return undefined;
  let local: PowerDriver | undefined;
  if (specs.some((p) => p.driver === 'local')) {
    const { LocalPowerDriver } = await import('../../controller/power/local.js');
    local = new LocalPowerDriver(o.localDir!);
  }
  // One BMC driver per endpoint (one board), shared by its slots.
  const bmcs = new Map<string, PowerDriver>();
  let endpointOf = (p: PowerSpec) => p.endpoint ?? '';
  if (specs.some((p) => p.driver === 'turingpi-bmc')) {
    const { TuringPiBmcDriver } = await import('../../controller/power/turingpi-bmc.js');
    endpointOf = (p) => p.endpoint ?? TuringPiBmcDriver.DEFAULT_ENDPOINT;
    for (const p of specs) {
      const endpoint = endpointOf(p);
      if (p.driver === 'turingpi-bmc' && !bmcs.has(endpoint)) bmcs.set(endpoint, new TuringPiBmcDriver({ endpoint, ...(o.bmc ? { credentials: o.bmc } : {}) }));
    }
  }
  return (p) => (p.driver === 'local' ? local! : bmcs.get(endpointOf(p))!);
}
