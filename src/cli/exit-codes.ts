import type { FailureKind } from '../diagnostics/diagnostic.js';

/** The one place failures become exit codes: 0 ok, 1 the operation failed, 2 bad input. */
export const EXIT = { ok: 0, failure: 1, input: 2 } as const;

export function exitCodeFor(kind: FailureKind): number {
  return kind === 'input' ? EXIT.input : EXIT.failure;
}
