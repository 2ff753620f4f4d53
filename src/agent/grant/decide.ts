/**
 * The agent's grant rule, pure (docs/decisions/0003-peripherals.md): a grant is given only by
 * the module that holds the peripheral's Lease, only while its last successful renewal (timed
 * from when it was sent) is younger than the lease duration minus a margin, and only for the
 * current fencing token. Times are the agent's monotonic clock.
 */

export interface Holding {
  /** The fencing token held, or null when this module does not own the peripheral. */
  token: number | null;
  /** Monotonic ms until which it may grant (last renewal sent + lease - margin). */
  validUntil: number;
}

export type Refusal = 'not-owner' | 'lease-lapsed' | 'stale-token' | 'unknown-token';

export type GrantDecision = { ok: true; token: number; validForMs: number } | { ok: false; refusal: Refusal; current: number | null };

/** `token`: what the client holds (absent on a first request: it learns the token from the answer). */
export function decideGrant(h: Holding, now: number, token: number | undefined): GrantDecision {
  if (h.token === null) return { ok: false, refusal: 'not-owner', current: null };
  if (now >= h.validUntil) return { ok: false, refusal: 'lease-lapsed', current: h.token };
  // An older token is a writer from before a handover; a newer one was never granted here.
  if (token !== undefined && token < h.token) return { ok: false, refusal: 'stale-token', current: h.token };
  if (token !== undefined && token > h.token) return { ok: false, refusal: 'unknown-token', current: h.token };
  return { ok: true, token: h.token, validForMs: h.validUntil - now };
}
