/**
 * Kubernetes resource quantities (`500m`, `1.5`, `2Gi`, `512M`). The client library keeps its
 * parser private, and the planner needs exact integer arithmetic, so CPU is read as millicores
 * and memory as bytes.
 */
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

const QUANTITY = /^([+]?[0-9]+(?:\.[0-9]+)?|[+]?\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?[0-9]+))?$/;

/** The quantity's value in base units, or undefined if the string is not a quantity. */
export function parseQuantity(text: string): number | undefined {
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  const value = Number(m[1]);
  if (m[3] !== undefined) return value * 10 ** Number(m[3]);
  const suffix = m[2] ?? '';
  const factor = BINARY[suffix] ?? DECIMAL[suffix];
  return factor === undefined ? undefined : value * factor;
}

export function isQuantity(text: string): boolean {
  return parseQuantity(text) !== undefined;
}

export function cpuMillis(text: string | undefined): number {
  return text === undefined ? 0 : ceilExact((parseQuantity(text) ?? 0) * 1000);
}

export function memoryBytes(text: string | undefined): number {
  return text === undefined ? 0 : ceilExact(parseQuantity(text) ?? 0);
}

/** Kubernetes rounds fractional quantities up; float noise (0.003 * 1000 = 3.0000000000000004) must not. */
function ceilExact(value: number): number {
  return Math.ceil(Math.round(value * 1e6) / 1e6);
}

/** Human form for reports: `1.5Gi`, `512Mi`. */
export function formatBytes(bytes: number): string {
  const units: [string, number][] = [
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(bytes) >= size) return `${Number((bytes / size).toFixed(1))}${unit}`;
  }
  return `${bytes}`;
}

export function formatMillis(millis: number): string {
  return millis % 1000 === 0 ? `${millis / 1000}` : `${millis}m`;
}
