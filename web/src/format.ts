import type { Health, TimelineKind } from '../../src/dashboard/view.js';

/** Health as icon and word: colour is never the only signal. */
export const HEALTH: Record<Health, { icon: string; label: string }> = {
  healthy: { icon: '✓', label: 'healthy' },
  suspect: { icon: '!', label: 'suspect' },
  failed: { icon: '✕', label: 'failed' },
  fenced: { icon: '⊘', label: 'fenced' },
  unknown: { icon: '?', label: 'unknown' },
};

export const KIND_LABEL: Record<TimelineKind, string> = {
  detection: 'Detected',
  fencing: 'Fenced',
  eviction: 'Evicted',
  handover: 'Handed over',
  placement: 'Replaced',
  promotion: 'Promoted',
  rejoin: 'Rejoined',
};

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function bytes(n: number): string {
  const gib = n / 2 ** 30;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`;
}

export const cores = (millis: number): string => `${(millis / 1000).toFixed(2).replace(/\.?0+$/, '')}`;
