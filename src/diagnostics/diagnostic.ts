/**
 * Errors are data: every problem edgebox reports is a Diagnostic with a stable code, where it is,
 * and how to fix it. Turning them into text happens in one place (src/cli/print-diagnostics.ts).
 */
export type Severity = 'error' | 'warning' | 'info';

export interface SourceLocation {
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
}

export interface Diagnostic {
  /** Stable machine-readable code, e.g. `spec.unknown-hardware`. Never reworded once shipped. */
  code: string;
  severity: Severity;
  message: string;
  hint?: string;
  /** Field path inside the spec, e.g. `spec.modules[2].hardware`. */
  path?: string;
  location?: SourceLocation | undefined;
}

/**
 * Which exit code a failure maps to. `input`: the user's input is wrong (exit 2);
 * `failure`: the operation ran and failed (exit 1).
 */
export type FailureKind = 'input' | 'failure';

const BRAND = Symbol.for('edgebox.error');

/** Thrown to stop a command; carries diagnostics instead of a message to parse. */
export class EdgeboxError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly kind: FailureKind,
    readonly diagnostics: Diagnostic[],
  ) {
    super(diagnostics.map((d) => d.message).join('; '));
    this.name = 'EdgeboxError';
  }

  /**
   * By brand, not by class: the controller command is a bundle of its own (rolldown.config.js)
   * with its own copy of this class, and its errors reach the CLI's handler in main.ts.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

export function inputError(code: string, message: string, hint?: string, extra: Partial<Diagnostic> = {}): EdgeboxError {
  return new EdgeboxError('input', [{ code, severity: 'error', message, ...(hint ? { hint } : {}), ...extra }]);
}

export function failure(code: string, message: string, hint?: string, extra: Partial<Diagnostic> = {}): EdgeboxError {
  return new EdgeboxError('failure', [{ code, severity: 'error', message, ...(hint ? { hint } : {}), ...extra }]);
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Renders a path array as `spec.modules[2].hardware`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
