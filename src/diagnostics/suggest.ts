import { closest, distance } from 'fastest-levenshtein';

/**
 * The known name a misspelt one most likely meant, or undefined when nothing is near enough
 * (a far-off suggestion misleads more than it helps). A near spelling wins; otherwise the first
 * known name that contains every dash-separated part of the input, so that a shorthand such as
 * `jetson-nx` finds `jetson-xavier-nx-8gb` and `canbus` finds `can`.
 */
export function suggest(input: string, known: readonly string[]): string | undefined {
  if (known.length === 0 || input.length === 0) return undefined;
  const best = closest(input, known as string[]);
  if (distance(input, best) <= Math.max(2, Math.floor(best.length / 4))) return best;
  const parts = input
    .toLowerCase()
    .split(/[-_.\s]+/)
    .filter(Boolean);
  return known.find((k) => {
    const tokens = k.toLowerCase().split(/[-_.]+/);
    return parts.every((p) => tokens.some((t) => t.startsWith(p) || (p.length > 2 && t.includes(p)) || (t.length > 2 && p.startsWith(t))));
  });
}

export function didYouMean(input: string, known: readonly string[]): string | undefined {
  const s = suggest(input, known);
  return s ? `did you mean '${s}'?` : undefined;
}
