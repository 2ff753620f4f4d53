import { expiresAt, isReleased, type PeripheralLease } from '../../peripherals/lease.js';
import type { BoxSpec } from '../../spec/schema.js';
import type { PeripheralStatus } from '../../contract/edgebox-status.js';

const iso = (t: number | null) => (t === null ? undefined : new Date(t).toISOString());

/** Pure. `mono`: the clock the Leases' expiry is on (the controller's monotonic clock). */
export function peripheralStatuses(box: BoxSpec, leases: readonly PeripheralLease[], mono: number): PeripheralStatus[] {
  return box.spec.peripherals.map((p) => {
    const base = { name: p.name, kind: p.kind, exclusive: p.exclusive, attachedTo: [...p.attachedTo] };
    if (!p.exclusive) return { ...base, owner: null, token: 0, phase: 'Shared' as const };
    const l = leases.find((x) => x.peripheral === p.name);
    if (!l || l.holder === null) return { ...base, owner: null, token: l?.token ?? 0, phase: 'Unowned' as const };
    const expiry = expiresAt(l);
    const phase =
      isReleased(l) || l.releaseToken === l.token ? ('Releasing' as const) : expiry !== null && mono > expiry ? ('Expired' as const) : ('Owned' as const);
    const since = iso(l.acquireTime);
    return {
      ...base,
      owner: l.holder,
      token: l.token,
      phase,
      // Not the renew time: it changes twice a second, and the status is rewritten only on a change.
      ...(since ? { since } : {}),
      ...(l.moveTo ? { moveTo: l.moveTo } : {}),
    };
  });
}
