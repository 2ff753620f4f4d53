import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { inputError } from '../../diagnostics/diagnostic.js';
import { didYouMean } from '../../diagnostics/suggest.js';
import type { BoxSpec } from '../../spec/schema.js';
import { AGENT_METRICS_PORT } from '../../contract/metrics.js';
import { TuringPiBmcDriver } from '../../power/turingpi-bmc.js';
import type { AgentPeripheral } from '../grant/device.js';
import { quorumSpecOptions, type QuorumRecoveryOptions } from '../quorum/recovery-loop.js';

/** TCP port of GET /healthz, /peers and /metrics unless --http-port says otherwise. */
export const DEFAULT_HTTP_PORT = 7947;
/** TCP port of the scrape endpoint on the module address unless --metrics-port says otherwise. */
export const DEFAULT_METRICS_PORT = AGENT_METRICS_PORT;

export interface Peer {
  name: string;
  address: string;
}

/** Everything `edgebox agent run` needs, resolved from the spec and the flags. */
export interface AgentConfig {
  box: string;
  module: string;
  /** The other modules, in spec order, with the address each heartbeats from. */
  peers: Peer[];
  /** Where this agent binds its heartbeat socket (its module's address). */
  address: string;
  /** UDP port of every agent of the box. */
  port: number;
  intervalMs: number;
  missedHeartbeats: number;
  http: { address: string; port: number };
  /** GET /metrics for Prometheus, on the module address, behind the box's scrape token. */
  metrics: { address: string; port: number };
  /** spec.failover.selfFenceSeconds in ms (src/agent/self-fence). */
  selfFenceMs: number;
  /** --address when given: the API connection's local address too, so it is attributable to the module. */
  apiLocalAddress?: string;
  /** The exclusive peripherals attached to this module: its grant API serves these. */
  peripherals: AgentPeripheral[];
  /** Quorum-loss recovery (src/agent/quorum): each module's power spec, and the safety period in ms if the spec sets one. */
  quorum: Pick<QuorumRecoveryOptions, 'power' | 'safetyMs' | 'powerOffGraceMs'>;
}

export interface AgentFlags {
  module: string;
  /** --address: bind here instead of the module's address. */
  address?: string;
  /** --port: heartbeat on this UDP port instead of spec.failover.port (all agents of the box). */
  port?: number;
  /** --http-port; 0 = ephemeral. Default DEFAULT_HTTP_PORT. */
  httpPort?: number;
  /** --metrics-port; 0 = ephemeral. Default DEFAULT_METRICS_PORT. */
  metricsPort?: number;
  /** --address-map: module -> address, over the spec's addresses (a local box's 127.0.1.N). */
  addressMap?: Record<string, string>;
}

const isLoopback = (address: string) => address === '::1' || address.startsWith('127.');

export function resolveAgentConfig(box: BoxSpec, flags: AgentFlags): AgentConfig {
  const names = box.spec.modules.map((m) => m.name);
  if (!names.includes(flags.module)) {
    throw inputError(
      'agent.unknown-module',
      `'${flags.module}' is no module of box '${box.metadata.name}'`,
      didYouMean(flags.module, names) ?? `pass --module one of ${names.join(', ')}`,
    );
  }
  for (const [module, address] of Object.entries(flags.addressMap ?? {})) {
    if (!names.includes(module)) {
      throw inputError(
        'agent.bad-address-map',
        `the address map names '${module}', which is no module of box '${box.metadata.name}'`,
        didYouMean(module, names) ?? `its keys must be among ${names.join(', ')}`,
      );
    }
    if (isIP(address) === 0)
      throw inputError(
        'agent.bad-address-map',
        `the address map gives '${module}' the address '${address}', which is not an IP address`,
        'map each module to an IPv4 or IPv6 address',
      );
  }
  if (flags.address !== undefined && isIP(flags.address) === 0)
    throw inputError('agent.bad-address', `--address '${flags.address}' is not an IP address`, 'pass an IPv4 or IPv6 address of this host');
  const addressOf = (name: string) => flags.addressMap?.[name] ?? box.spec.modules.find((m) => m.name === name)!.address;
  const address = flags.address ?? addressOf(flags.module);
  return {
    box: box.metadata.name,
    module: flags.module,
    peers: names.filter((n) => n !== flags.module).map((name) => ({ name, address: addressOf(name) })),
    address,
    port: flags.port ?? box.spec.failover.port,
    intervalMs: box.spec.failover.heartbeatIntervalMs,
    missedHeartbeats: box.spec.failover.missedHeartbeats,
    // Health and views are for this host only; in a local box every agent has its own loopback
    // address, so each can serve on the same port.
    http: { address: isLoopback(address) ? address : '127.0.0.1', port: flags.httpPort ?? DEFAULT_HTTP_PORT },
    metrics: { address, port: flags.metricsPort ?? DEFAULT_METRICS_PORT },
    selfFenceMs: box.spec.failover.selfFenceSeconds * 1000,
    ...(flags.address !== undefined ? { apiLocalAddress: flags.address } : {}),
    peripherals: agentPeripherals(box, flags.module),
    quorum: quorumSpecOptions(box),
  };
}

/** The exclusive peripherals attached to a module, with what the agent needs to act on each. */
export function agentPeripherals(box: BoxSpec, module: string): AgentPeripheral[] {
  const power = box.spec.modules.find((m) => m.name === module)?.power;
  return box.spec.peripherals
    .filter((p) => p.exclusive && p.attachedTo.includes(module))
    .map((p) => ({
      name: p.name,
      kind: p.kind,
      ...(p.device ? { device: p.device } : {}),
      // A USB bus on a Turing Pi 2 is the BMC's to route: this module's slot on that board.
      ...(p.kind === 'usb' && power?.driver === 'turingpi-bmc'
        ? { bmc: { endpoint: power.endpoint ?? TuringPiBmcDriver.DEFAULT_ENDPOINT, slot: power.slot } }
        : {}),
    }));
}

/** --address-map: inline JSON (`{"m1":"127.0.1.1"}`) or the path of a JSON file. */
export async function readAddressMap(arg: string): Promise<Record<string, string>> {
  let text = arg;
  if (!arg.trimStart().startsWith('{')) {
    try {
      text = await readFile(arg, 'utf8');
    } catch (e) {
      throw inputError(
        'agent.bad-address-map',
        `--address-map is neither JSON nor a readable file: ${(e as Error).message}`,
        'pass {"<module>": "<address>", ...} or the path of a file holding it',
      );
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw inputError('agent.bad-address-map', `--address-map is not valid JSON: ${(e as Error).message}`, 'pass {"<module>": "<address>", ...}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw inputError('agent.bad-address-map', '--address-map must be a JSON object of module names to address strings', 'pass {"<module>": "<address>", ...}');
  }
  return parsed as Record<string, string>;
}
