import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TuringPiBmcDriver, type BmcCredentials } from '../../power/turingpi-bmc.js';

/**
 * What the owner's agent does to a device it can act on, when it starts and stops owning it:
 * a CAN interface is brought up and down (`ip link set can0 up|down`), so a module that lost
 * ownership cannot drive the bus even if a process ignores the grant API; the Turing Pi 2's USB
 * bus is routed by the BMC to the owner's slot (which takes it from every other slot). Other
 * kinds are guarded by the grant API alone.
 */

export type DeviceCommand = { kind: 'ip-link'; iface: string; up: boolean } | { kind: 'bmc-usb'; endpoint: string; slot: number; module: string };

/** The peripheral as the agent knows it from the spec. */
export interface AgentPeripheral {
  name: string;
  kind: string;
  /** The interface or device name (`can0` when the spec gives none for a CAN bus). */
  device?: string;
  /** This module's slot on a Turing Pi 2 whose BMC routes the USB bus. */
  bmc?: { endpoint: string; slot: number };
}

/** The commands for taking (`up`) or giving up ownership. Pure. */
export function deviceCommands(p: AgentPeripheral, module: string, up: boolean): DeviceCommand[] {
  if (p.kind === 'can') return [{ kind: 'ip-link', iface: p.device ?? 'can0', up }];
  // Routing the bus to the new owner is what takes it from the old one; letting go does nothing.
  if (p.kind === 'usb' && p.bmc && up) return [{ kind: 'bmc-usb', endpoint: p.bmc.endpoint, slot: p.bmc.slot, module }];
  return [];
}

export function describeCommand(c: DeviceCommand): string {
  return c.kind === 'ip-link' ? `ip link set ${c.iface} ${c.up ? 'up' : 'down'}` : `BMC ${c.endpoint}: route USB to slot ${c.slot} (${c.module}) as host`;
}

export type DeviceRunner = (c: DeviceCommand) => Promise<void>;

/** Runs the commands for real: `ip` from PATH, the BMC's HTTP API with the box's BMC login. */
export function execRunner(o: { bmc?: BmcCredentials; fetch?: typeof fetch } = {}): DeviceRunner {
  const run = promisify(execFile);
  const bmcs = new Map<string, TuringPiBmcDriver>();
  return async (c) => {
    if (c.kind === 'ip-link') {
      await run('ip', ['link', 'set', c.iface, c.up ? 'up' : 'down'], { timeout: 5000 });
      return;
    }
    let d = bmcs.get(c.endpoint);
    if (!d)
      bmcs.set(
        c.endpoint,
        (d = new TuringPiBmcDriver({ endpoint: c.endpoint, ...(o.bmc ? { credentials: o.bmc } : {}), ...(o.fetch ? { fetch: o.fetch } : {}) })),
      );
    await d.routeUsb(c.module, c.slot);
  };
}
