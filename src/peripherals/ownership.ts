import { moduleCapabilities } from '../spec/derive.js';
import type { BoxSpec, PeripheralSpec } from '../spec/schema.js';
import { expiresAt, isReleased, type PeripheralLease } from './lease.js';
import type { PeripheralTimings } from '../contract/peripherals.js';

/**
 * Who may own an exclusive peripheral, and when ownership may pass from one module to the next.
 * Pure: the controller's reconciler and the unit tests call these with observed state.
 */

/** The exclusive peripherals of a box, in spec order. */
export function exclusivePeripherals(box: BoxSpec): PeripheralSpec[] {
  return box.spec.peripherals.filter((p) => p.exclusive);
}

/**
 * The modules that may own it, in preference order: those of `attachedTo` (the spec author's
 * order) that can run every workload using the peripheral (capabilities), so that whichever
 * module owns it, its workloads can follow. When none can run them all, every attached module.
 */
export function ownerOrder(box: BoxSpec, p: PeripheralSpec): string[] {
  const attached = p.attachedTo.filter((n) => box.spec.modules.some((m) => m.name === n));
  const users = box.spec.workloads.filter((w) => w.peripherals.includes(p.name));
  const suits = attached.filter((n) => {
    const caps = moduleCapabilities(box.spec.modules.find((m) => m.name === n)!);
    return users.every((w) => w.requires.capabilities.every((c) => caps.has(c)));
  });
  return suits.length ? suits : attached;
}

/** What the controller knows about one candidate module. */
export interface ModuleState {
  module: string;
  /** Its node exists, is Ready, is neither fenced nor failed, and its agent renews its Lease. */
  eligible: boolean;
  /**
   * As `eligible`, but its agent's Lease may have gone unrenewed for up to HOLDER_STALE_GRACE_MS:
   * enough for the holder to keep what it has. An API outage stales every agent's view at once,
   * and when it ends the agents come back one by one (each at its own retry backoff); taking the
   * peripheral from a holder that is merely later than the others would move its workload for
   * nothing. Only while no other agent's fresh view has lost its heartbeats: a frozen or dead
   * agent loses them at once, and its peripheral moves as soon as that is safe.
   */
  mayKeep: boolean;
  /** Powered off by the power driver and confirmed off (a fence the module cannot outlive). */
  poweredOff: boolean;
  /** Fenced by the out-of-service taint after a quorum-confirmed failure. */
  taintFenced: boolean;
}

export type SafeBecause = 'no-holder' | 'released' | 'powered-off' | 'fenced-and-expired' | 'expired';

/**
 * Whether the current holder can no longer be granting, and why; `at` is when that became (or
 * becomes) true, for the handover-time figures. `mono` and `at` are on the controller's monotonic
 * clock, the one the Lease's expiry is measured on: the holder's own clock never enters it. Powered off or a confirmed release: at once. A
 * fence by taint stops its workloads, not its agent: it is safe once its lease expired (the
 * agent stopped granting a margin before). Otherwise: expired plus the handover margin.
 */
export function handoverSafety(
  l: PeripheralLease,
  holder: ModuleState | undefined,
  mono: number,
  t: PeripheralTimings,
): { safe: boolean; because?: SafeBecause; at: number | null } {
  if (l.holder === null) return { safe: true, because: 'no-holder', at: null };
  if (isReleased(l)) return { safe: true, because: 'released', at: null };
  if (holder?.poweredOff) return { safe: true, because: 'powered-off', at: null };
  const expiry = expiresAt(l);
  if (expiry === null) return { safe: true, because: 'expired', at: null };
  if (holder?.taintFenced) return mono >= expiry ? { safe: true, because: 'fenced-and-expired', at: expiry } : { safe: false, at: expiry };
  const at = expiry + t.handoverMarginMs;
  return mono >= at ? { safe: true, because: 'expired', at } : { safe: false, at };
}

export interface OwnerChoice {
  /** Who should own it now (the holder while it is fine), or null when no module can. */
  desired: string | null;
  /** Why it should change hands, when it should. */
  reason?: 'move' | 'holder-unavailable' | 'unowned';
}

/**
 * The owner it should have: the holder while it is eligible and no move to an eligible module is
 * asked for; else the module a move names; else the first eligible module in preference order.
 */
export function chooseOwner(
  order: readonly string[],
  l: Pick<PeripheralLease, 'holder' | 'moveTo'> | undefined,
  states: ReadonlyMap<string, ModuleState>,
): OwnerChoice {
  const eligible = order.filter((m) => states.get(m)?.eligible);
  const holder = l?.holder ?? null;
  const move = l?.moveTo && l.moveTo !== holder && eligible.includes(l.moveTo) ? l.moveTo : undefined;
  if (move) return { desired: move, reason: 'move' };
  if (holder !== null && (eligible.includes(holder) || states.get(holder)?.mayKeep)) return { desired: holder };
  const next = eligible.find((m) => m !== holder) ?? null;
  if (next === null) return { desired: null };
  return { desired: next, reason: holder === null ? 'unowned' : 'holder-unavailable' };
}
