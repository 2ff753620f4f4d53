import { PREFIX } from './labels.js';

/**
 * The names shared by the controller, the agents and the CLI for exclusive peripherals
 * (docs/decisions/0003-peripherals.md): the ownership Lease, its annotations, the owner label
 * and the timings that make a handover safe.
 */

/** `edgebox-system/peripheral-<name>`: one ownership Lease per exclusive peripheral. */
export const peripheralLeaseName = (peripheral: string): string => `peripheral-${peripheral}`;
export const PERIPHERAL_LEASE_PREFIX = peripheralLeaseName('');

/** `edgebox.dev/owns.motor-bus=true`: on the owner's node only; workloads using it require it. */
export const ownsLabel = (peripheral: string): string => `${PREFIX}/owns.${peripheral}`;

export const PERIPHERAL_ANNOTATIONS = {
  /** The peripheral the Lease is for. */
  peripheral: `${PREFIX}/peripheral`,
  /** The modules it is attached to, comma-separated (for `peripheral move` to check its argument). */
  attachedTo: `${PREFIX}/attached-to`,
  /** A planned move asked for (`edgebox peripheral move`): the module that should own it next. */
  moveTo: `${PREFIX}/move-to`,
  /** The controller asks the holder of this token to stop granting (a planned move). */
  releaseToken: `${PREFIX}/release-token`,
  /** The holder confirms it stopped granting this token: the controller may hand over at once. */
  releasedToken: `${PREFIX}/released-token`,
} as const;

/**
 * How long an ownership lasts without renewal and the margins around it. The owner's agent
 * grants only until `lastRenew + leaseSeconds - grantMarginMs` (its own clock, from when it sent
 * the renewal); the controller hands over no earlier than `renewTime + leaseSeconds +
 * handoverMarginMs` (or at `renewTime + leaseSeconds` once the module is fenced by taint, at once
 * once it is powered off or confirmed the release). Between the two lie both margins: clock
 * skew and a slow write must eat all of it before two modules could grant at once.
 */
export interface PeripheralTimings {
  /** Lease duration, in s. Default 3. */
  leaseSeconds: number;
  /** How often the owner's agent renews, in ms. Default 500. */
  renewMs: number;
  /** The agent stops granting this long before its lease would expire, in ms. Default 1000. */
  grantMarginMs: number;
  /** The controller waits this long after expiry before handing over an unfenced owner's peripheral, in ms. Default 1000. */
  handoverMarginMs: number;
}

export const DEFAULT_PERIPHERAL_TIMINGS: PeripheralTimings = { leaseSeconds: 3, renewMs: 500, grantMarginMs: 1000, handoverMarginMs: 1000 };
