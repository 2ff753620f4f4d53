import { isIP } from 'node:net';
import { z } from 'zod';
import { isQuantity } from './quantity.js';
import { DEFAULT_K3S_VERSION, K3S_VERSION_PATTERN } from './k3s-version.js';

/**
 * The box spec, `edgebox.dev/v1alpha1` `EdgeBox`. This shape is the contract of every later
 * feature: extend it with new optional fields, never rename one. Objects are strict so a
 * misspelt key is reported instead of silently ignored.
 */
export const API_VERSION = 'edgebox.dev/v1alpha1';
export const KIND = 'EdgeBox';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsLabel = z.string().regex(DNS1123_LABEL, {
  message: 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters',
});

const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'must be an IPv4 or IPv6 address' });

const quantity = z
  .union([z.string(), z.number()])
  .transform((v) => String(v))
  .refine(isQuantity, { message: 'must be a Kubernetes quantity such as "500m", "1", "2Gi" or "512Mi"' });

// Kubernetes label values: at most 63 characters, alphanumerics with -_. inside.
const labelValue = z
  .union([z.string(), z.number(), z.boolean()])
  .transform((v) => String(v))
  .refine((v) => /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v) && v.length <= 63, {
    message: 'must be a valid Kubernetes label value (at most 63 alphanumerics, "-", "_" or ".")',
  });

export const ROLES = ['server', 'agent'] as const;
export const PERIPHERAL_KINDS = ['can', 'serial', 'usb', 'camera', 'gpio', 'i2c', 'spi', 'ethernet'] as const;
export const WORKLOAD_KINDS = ['deployment', 'statefulset', 'daemonset'] as const;
export const CRITICALITIES = ['critical', 'standard', 'best-effort'] as const;
/** `local`: in a local box, powering off stops all of the module's processes. */
export const POWER_DRIVERS = ['turingpi-bmc', 'local'] as const;

export const powerSchema = z.strictObject({
  driver: z.enum(POWER_DRIVERS),
  /** Slot on the board the module sits in (Turing Pi 2: 1-4). */
  slot: z.number().int().min(1),
  /** Where the driver is reached, e.g. the Turing Pi 2 BMC's address. Default: the driver's own. */
  endpoint: z.string().min(1).optional(),
});

/** How agents detect a failed module. Defaults suit a LAN backplane (sub-millisecond RTT). */
export const failoverSchema = z.strictObject({
  /** Heartbeat interval between agents over the box network, in ms. Default 200. */
  heartbeatIntervalMs: z.number().int().min(20).max(10_000).default(200),
  /** Consecutive heartbeats a peer may miss before an agent reports it unreachable. Default 5. */
  missedHeartbeats: z.number().int().min(2).max(100).default(5),
  /** How long a fenced module must stay healthy before it takes workloads again, in s. Default 30. */
  settleSeconds: z.number().int().min(0).max(3600).default(30),
  /** UDP port the agents heartbeat on. Default 7946. */
  port: z.number().int().min(1).max(65_535).default(7946),
  /**
   * Self-fencing bound, in s: an agent that hears fewer peers than a majority of the box and has
   * not written to the API for this long stops its module's singletons; the controller waits this
   * long (plus a margin) after the agent's last Lease renewal before a taint-only fence. Default 3.
   */
  selfFenceSeconds: z.number().int().min(1).max(300).default(3),
});

export const moduleSchema = z.strictObject({
  name: dnsLabel,
  hardware: z.string().min(1),
  address: ipAddress,
  /** Roles the module may take. Default: both. */
  roles: z.array(z.enum(ROLES)).min(1, { message: 'must list at least one role' }).default(['server', 'agent']),
  /** Capabilities the carrier board adds to what the catalog gives. Default: none. */
  capabilities: z.array(z.string()).default([]),
  /** Extra node labels. */
  labels: z.record(z.string(), labelValue).default({}),
  power: powerSchema.optional(),
});

export const peripheralSchema = z.strictObject({
  name: dnsLabel,
  kind: z.enum(PERIPHERAL_KINDS),
  attachedTo: z.array(z.string()).min(1, { message: 'must name at least one module' }),
  /** At most one module may drive it at a time. Default: false. */
  exclusive: z.boolean().default(false),
  /** The device on each attached module, where the agent acts on it (a CAN interface: default `can0`). */
  device: z.string().min(1).optional(),
});

export const workloadSchema = z.strictObject({
  name: dnsLabel,
  image: z.string().min(1),
  kind: z.enum(WORKLOAD_KINDS).default('deployment'),
  /** Ignored for daemonsets. Default: 1. */
  replicas: z.number().int().min(0).default(1),
  requires: z
    .strictObject({
      capabilities: z.array(z.string()).default([]),
      cpu: quantity.optional(),
      memory: quantity.optional(),
    })
    .default({ capabilities: [] }),
  peripherals: z.array(z.string()).default([]),
  criticality: z.enum(CRITICALITIES).default('standard'),
  /** Never two running copies, even during failover. Default: false. */
  singleton: z.boolean().default(false),
});

export const controlPlaneSchema = z.strictObject({
  /** etcd voters to maintain; odd. Default: 3. */
  servers: z.number().int().min(1).default(3),
  /** Optional virtual IP for the API (kube-vip); added to every server's tls-san. */
  apiAddress: ipAddress.optional(),
  /**
   * Quorum loss: how long, in s, every surviving agent must have heard nothing from a missing
   * voter without a power driver before the survivor resets the cluster without it. A voter that
   * is only cut off would keep running as a second cluster, so this is a bet on its silence.
   * Default: none, only a power driver's confirmed power-off counts (src/agent/quorum).
   */
  quorumLossSafetySeconds: z.number().int().min(10).max(86_400).optional(),
  /**
   * Quorum loss: how long, in s, a missing voter whose power driver reports its slot on must have
   * been silent before the survivor powers it off. Longer than a module's reboot, so that a voter
   * that is only rebooting comes back with its data and is counted. A slot reported off needs no
   * wait. Default: 60.
   */
  powerOffGraceSeconds: z.number().int().min(5).max(3600).default(60),
});

export const k3sSchema = z.strictObject({
  /** The K3s release every module installs (INSTALL_K3S_VERSION in the rendered steps). Default: DEFAULT_K3S_VERSION. */
  version: z.string().regex(K3S_VERSION_PATTERN, { message: 'a K3s version such as v1.32.5+k3s1' }).default(DEFAULT_K3S_VERSION),
});

export const boxSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: z.looseObject({ name: dnsLabel }),
  spec: z.strictObject({
    controlPlane: controlPlaneSchema.default({ servers: 3, powerOffGraceSeconds: 60 }),
    k3s: k3sSchema.default({ version: DEFAULT_K3S_VERSION }),
    modules: z.array(moduleSchema).min(1, { message: 'a box needs at least one module' }),
    peripherals: z.array(peripheralSchema).default([]),
    workloads: z.array(workloadSchema).default([]),
    failover: failoverSchema.default({ heartbeatIntervalMs: 200, missedHeartbeats: 5, settleSeconds: 30, port: 7946, selfFenceSeconds: 3 }),
  }),
});

export type BoxSpec = z.output<typeof boxSchema>;
export type ModuleSpec = BoxSpec['spec']['modules'][number];
export type PeripheralSpec = BoxSpec['spec']['peripherals'][number];
export type WorkloadSpec = BoxSpec['spec']['workloads'][number];
export type Role = (typeof ROLES)[number];
export type Criticality = (typeof CRITICALITIES)[number];
