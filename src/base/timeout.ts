/** A promise that rejects with ETIMEDOUT when it has not settled within `ms` (a quorum-less API server hangs rather than fails). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms / 1000} s`), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One-shot reads for the CLI (`edgebox status`, `edgebox drain`): the EdgeBox object with its
 * status, and the same observed state the controller's informers hold, listed once.
 */

/** How long one request may take before the API counts as unavailable (a quorum-less API server hangs rather than fails). */
export const API_TIMEOUT_MS = 5000;
