import pc from 'picocolors';
import type { Diagnostic, Severity } from '../diagnostics/diagnostic.js';

const paint: Record<Severity, (s: string) => string> = { error: pc.red, warning: pc.yellow, info: pc.cyan };

/** The one place diagnostics become text: `file:line:col: severity code: message` then the hint. */
export function formatDiagnostic(d: Diagnostic, color = false): string {
  const where = d.location ? `${d.location.file}:${d.location.line}:${d.location.col}: ` : '';
  const sev = color ? paint[d.severity](d.severity) : d.severity;
  const field = d.path && !d.message.includes(d.path) ? ` (${d.path})` : '';
  const hint = d.hint ? `\n    hint: ${d.hint}` : '';
  return `${where}${sev} ${d.code}: ${d.message}${field}${hint}`;
}

/**
 * Diagnostics as one JSON document, for `-o json`: `{"errors": [...]}` with every field of each
 * diagnostic (code, severity, message, hint, path, location).
 */
export function printDiagnosticsJson(ds: readonly Diagnostic[], stream: NodeJS.WriteStream = process.stderr): void {
  stream.write(`${JSON.stringify({ errors: ds }, null, 2)}\n`);
}

export function printDiagnostics(ds: readonly Diagnostic[], stream: NodeJS.WriteStream = process.stderr): void {
  const color = Boolean(stream.isTTY) && pc.isColorSupported;
  for (const d of ds) stream.write(`${formatDiagnostic(d, color)}\n`);
}
