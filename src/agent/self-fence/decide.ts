import { majorityOf } from '../../base/majority.js';

/**
 * Whether a module should fence itself (docs/decisions/0001-self-healing.md, "Self-fencing").
 * Pure: times come in on one monotonic clock (ms), nothing here does I/O.
 *
 * A module fenced by the out-of-service taint alone (no power driver) may still be alive, cut off
 * from its peers and the API. Its peers then declare it failed and the controller releases its
 * pods, so its singletons must stop by themselves before that happens. The rule:
 *
 * - fence when the module is in a minority (it hears fewer peers than a majority of all modules
 *   needs, counting itself) AND its last successful API write started more than `boundMs` ago;
 * - lift when it is back in a majority AND its last API write is within `boundMs`.
 *
 * Both conditions, not one: a module that only lost the API (the API server restarting) is in a
 * majority and its peers keep vouching for it, so nobody replaces its pods; a module that only
 * lost its peers still renews its node Lease through the API, so the controller never fences it.
 */

export interface SelfFenceInput {
  /** Modules in the box, this one included. */
  modules: number;
  /** Peers this agent hears (reachable in its view). */
  reachablePeers: number;
  /** When the last API write that succeeded was started; null when none did yet. */
  lastApiWrite: number | null;
  /** When the agent started: stands in for the last write before the first one. */
  startedAt: number;
  now: number;
  /** spec.failover.selfFenceSeconds in ms. */
  boundMs: number;
  /** Whether the module is fenced now. */
  fenced: boolean;
}

export type SelfFenceVerdict = 'fence' | 'lift' | 'stay';

export function inMinority(i: Pick<SelfFenceInput, 'modules' | 'reachablePeers'>): boolean {
  return i.reachablePeers + 1 < majorityOf(i.modules);
}

/** The last API write (or the start, before any) is older than the bound. */
export function apiStale(i: Pick<SelfFenceInput, 'lastApiWrite' | 'startedAt' | 'now' | 'boundMs'>): boolean {
  return i.now - (i.lastApiWrite ?? i.startedAt) > i.boundMs;
}

export function decideSelfFence(i: SelfFenceInput): SelfFenceVerdict {
  const minority = inMinority(i);
  if (!i.fenced) return minority && apiStale(i) ? 'fence' : 'stay';
  return !minority && i.lastApiWrite !== null && !apiStale(i) ? 'lift' : 'stay';
}
