import { isIP } from 'node:net';
import { z } from 'zod';
import { labelKeyProblem } from './label-key.js';
import { POWER_DRIVERS } from '../catalog/power-boards.js';
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

/**
 * A check whose failures carry their own code and hint (the loader reads them from the issue's
 * params), for rules a generic "see docs/spec.md" would explain badly.
 */
export interface FieldProblem {
  code: string;
  message: string;
  hint: string;
  /** A key of the checked mapping that is wrong itself (located at the key, not its value). */
  key?: string;
}

function checked<T extends z.ZodType>(schema: T, problems: (value: z.output<T>) => readonly FieldProblem[]) {
  return schema.superRefine((value, ctx) => {
    for (const p of problems(value))
      ctx.addIssue({
        code: 'custom',
        message: p.message,
        params: { code: p.code, hint: p.hint, onKey: p.key !== undefined },
        ...(p.key !== undefined ? { path: [p.key] } : {}),
      });
  });
}

const ipAddress = checked(z.string(), (s): FieldProblem[] => {
  // Node's isIP accepts `fe80::1%eth0`, but a zone id names an interface of one host: no other
  // module reaches the address by it, and neither K3s nor a URL takes it.
  if (s.includes('%'))
    return [
      {
        code: 'spec.address-zone',
        message: `'${s}' carries an IPv6 zone id ('%${s.split('%')[1] ?? ''}')`,
        hint: 'give the module an address every module reaches without a zone: a global or ULA (fd00::/8) address, or IPv4',
      },
    ];
  if (isIP(s) === 0)
    return [{ code: 'spec.schema', message: `'${s}' is not an IP address`, hint: 'write an IPv4 or IPv6 address, e.g. 192.168.8.11 or fd00::11' }];
  return [];
});

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

/**
 * A power endpoint is the base URL of an HTTP API: the driver resolves its own paths against it
 * (a path here would be dropped silently) and takes credentials from the environment, never from
 * the spec, which render copies into files.
 */
function endpointProblems(s: string): FieldProblem[] {
  const bad = (message: string, hint: string): FieldProblem[] => [{ code: 'spec.power-endpoint', message, hint }];
  const example = 'write the base URL of the board controller, e.g. https://turingpi.local or http://192.168.8.2';
  if (!URL.canParse(s)) return bad(`'${s}' is not a URL`, example);
  const url = new URL(s);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad(`'${s}' is not an http or https URL`, example);
  if (!url.hostname) return bad(`'${s}' names no host`, example);
  if (url.username || url.password)
    return bad(`'${url.protocol}//${url.host}' carries credentials`, 'remove them: the BMC login comes from EDGEBOX_BMC_USERNAME and EDGEBOX_BMC_PASSWORD');
  if (url.pathname !== '/' || url.search || url.hash) return bad(`'${s}' has a path, query or fragment, which the driver ignores`, example);
  return [];
}

export const powerSchema = z.strictObject({
  driver: z.enum(POWER_DRIVERS),
  /** Slot on the board the module sits in (Turing Pi 2: 1-4; src/catalog/power-boards.ts). */
  slot: z.number().int().min(1),
  /** Where the driver is reached, e.g. the Turing Pi 2 BMC's address. Default: the driver's own. */
  endpoint: checked(z.string(), endpointProblems).optional(),
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
  /** Extra node labels; keys under edgebox.dev/ are edgebox's own (src/spec/label-key.ts). */
  labels: checked(z.record(z.string(), labelValue), (labels) =>
    Object.keys(labels).flatMap((key) => {
      const p = labelKeyProblem(key);
      return p ? [{ ...p, key }] : [];
    }),
  ).default({}),
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
  /**
   * A statefulset's own volume, one per pod (`volumeClaimTemplates`, ReadWriteOnce): network or
   * shared storage that can follow the pod to another module once the dead one is fenced (the
   * out-of-service taint lets Kubernetes detach it). Default: none.
   */
  storage: z
    .strictObject({
      size: quantity,
      /** Default: the cluster's default StorageClass. */
      storageClassName: z.string().min(1).optional(),
      /** Where the volume is mounted in the container. Default: `/data`. */
      mountPath: z.string().startsWith('/').default('/data'),
    })
    .optional(),
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

/** Where workloads may go, beyond what they require. */
export const placementSchema = z.strictObject({
  /**
   * Keep GPU modules for workloads that ask for the GPU (taint `edgebox.dev/accelerator`), when
   * the box has other modules for the rest. A workload bound to a peripheral that only GPU
   * modules reach tolerates it anyway, since it has nowhere else to go. `false`: any workload may
   * use a GPU module's CPU and memory. Default: true.
   */
  acceleratorTaint: z.boolean().default(true),
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
    placement: placementSchema.default({ acceleratorTaint: true }),
    failover: failoverSchema.default({ heartbeatIntervalMs: 200, missedHeartbeats: 5, settleSeconds: 30, port: 7946, selfFenceSeconds: 3 }),
  }),
});

export type BoxSpec = z.output<typeof boxSchema>;
export type ModuleSpec = BoxSpec['spec']['modules'][number];
export type PeripheralSpec = BoxSpec['spec']['peripherals'][number];
export type WorkloadSpec = BoxSpec['spec']['workloads'][number];
export type Role = (typeof ROLES)[number];
export type Criticality = (typeof CRITICALITIES)[number];
