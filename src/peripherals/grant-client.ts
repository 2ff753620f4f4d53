/**
 * A client of the agents' grant API (src/agent/grant/service.ts), as a device wrapper would use
 * it: ask for a grant, keep it by asking again before it runs out, send the token with every
 * write. Used by the integration tests and `bench:peripherals` to drive grants on a local box.
 */

export type GrantAnswer =
  | { ok: true; status: 200; token: number; until: string; module: string }
  | { ok: false; status: number; refused?: string; current?: number | null; error?: string };

export async function callGrantApi(
  base: string,
  peripheral: string,
  op: 'grant' | 'release' | 'write',
  token?: number,
  timeoutMs = 1000,
): Promise<GrantAnswer> {
  try {
    const res = await fetch(`${base}/peripherals/${peripheral}/${op}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(token === undefined ? {} : { token }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status === 200)
      return {
        ok: true,
        status: 200,
        token: (body.token as number | undefined) ?? token ?? 0,
        until: (body.until as string | undefined) ?? '',
        module: (body.module as string | undefined) ?? '',
      };
    return {
      ok: false,
      status: res.status,
      ...(typeof body.refused === 'string' ? { refused: body.refused } : {}),
      current: (body.current as number | null | undefined) ?? null,
    };
  } catch (e) {
    return { ok: false, status: 0, error: (e as Error).message };
  }
}

export interface Endpoint {
  module: string;
  /** http://<address>:<port> of the module's agent. */
  base: string;
}

/**
 * Asks every candidate module's agent for a grant every `everyMs`, as workloads on each would:
 * only the owner may say yes. Remembers the first grant each module gave after `since`.
 */
export class GrantPoller {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  readonly firstGrant = new Map<string, { at: number; token: number }>();
  readonly lastGrant = new Map<string, { at: number; token: number }>();
  /** The last time each module refused (or did not answer), ms. */
  readonly lastRefusal = new Map<string, number>();

  constructor(private readonly o: { peripheral: string; endpoints: () => Endpoint[]; everyMs: number }) {}

  start(): void {
    this.timer = setInterval(() => void this.round(), this.o.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Forget the firsts: the next grant of each module counts as first again. */
  reset(): void {
    this.firstGrant.clear();
  }

  private async round(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await Promise.all(
        this.o.endpoints().map(async (e) => {
          const asked = Date.now();
          const a = await callGrantApi(e.base, this.o.peripheral, 'grant', undefined, Math.max(200, this.o.everyMs * 3));
          if (a.ok) {
            if (!this.firstGrant.has(e.module)) this.firstGrant.set(e.module, { at: asked, token: a.token });
            this.lastGrant.set(e.module, { at: asked, token: a.token });
          } else {
            this.lastRefusal.set(e.module, Date.now());
          }
        }),
      );
    } finally {
      this.busy = false;
    }
  }
}
