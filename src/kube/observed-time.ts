import { timeOf } from './time.js';

/**
 * When this process saw each Lease renewed, on its own monotonic clock: the "observed time" of
 * Kubernetes leader election and of the node lifecycle controller's probe timestamps.
 *
 * A Lease's renewTime is stamped with the writer's wall clock. A module without an RTC boots with
 * the wrong time and NTP steps it later, so comparing that renewTime with this host's clock says
 * nothing about how long ago the Lease was renewed (docs/decisions/0004-clocks-and-faults.md).
 * What this host can know is when it first saw a renewal: the renewal happened no later than
 * that, so an age measured from it is never longer than the true one, and a live module is never
 * called stale because its clock is off. A new process has seen nothing: every Lease counts as
 * renewed when it is first seen, so a new leader waits a whole period before it calls anything
 * stale. Hand-written: a Map and a clock; no library does less.
 */
export class RenewalClock {
  private readonly seen = new Map<string, { marker: string; at: number; listed: boolean }>();
  /** When this process started observing (ms, monotonic). */
  readonly since: number;

  constructor(private readonly mono: () => number) {
    this.since = mono();
  }

  /**
   * When a renewal with this `marker` (what the writer put in the Lease's spec: renewTime, holder)
   * was first seen for `key`. A marker unseen so far is a renewal seen now. `listed`: it arrives in
   * a (re-)list, not as a watch event.
   */
  observe(key: string, marker: string, listed = false): number {
    const last = this.seen.get(key);
    if (last?.marker === marker) return last.at;
    const at = this.mono();
    this.seen.set(key, { marker, at, listed });
    return at;
  }

  /**
   * Whether the current renewal of `key` was seen happen: as a watch event, not first in a
   * (re-)list. A renewal first seen in a list may be as old as the list's gap: after an API outage
   * the informer re-lists, and the last Lease of an agent that died during the outage shows up as
   * a renewal "seen now". Its age counts from now (never shorter than the truth: no module is
   * called stale early), but what it says must not count as news (decide.ts, witnesses).
   */
  live(key: string): boolean {
    return this.seen.get(key)?.listed === false;
  }

  /** Forgets the Leases not in `keys` (deleted ones), so the map stays the size of the box. */
  keep(keys: ReadonlySet<string>): void {
    for (const k of this.seen.keys()) if (!keys.has(k)) this.seen.delete(k);
  }
}

/**
 * What a Lease's writer renews: its spec's renewTime (in ms: a typed list gives a Date, a watch
 * the MicroTime string, and a re-list must not look like a renewal) and holder.
 */
export function renewalMarker(spec: { renewTime?: unknown; holderIdentity?: string | null } | undefined): string {
  return `${timeOf(spec?.renewTime) ?? ''}|${spec?.holderIdentity ?? ''}`;
}
