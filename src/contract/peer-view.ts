import { PREFIX } from './labels.js';

/** An agent's view of its peers as it publishes it on its Lease, and the one reader of it (controller, dashboard). */

/** The annotation on the agent's Lease that holds its view of its peers (JSON of `PeerView`). */
export const PEER_VIEW_ANNOTATION = `${PREFIX}/peer-view`;

/** One peer as an agent sees it; the format of docs/decisions/0001-self-healing.md. */
export interface PeerViewEntry {
  reachable: boolean;
  /** RFC 3339 with milliseconds (UTC) of the last accepted heartbeat; null before the first. */
  lastSeen: string | null;
  /** Heartbeat intervals since then (or since the agent started), two decimals. */
  suspicion: number;
}

export type PeerView = Record<string, PeerViewEntry>;

/**
 * Reads a published view. Tolerant, for every reader (controller, dashboard): an annotation that
 * does not parse is no view, and an entry without a boolean `reachable` witnesses nothing.
 */
export function parsePeerView(annotation: string | undefined): PeerView {
  let raw: unknown;
  try {
    raw = JSON.parse(annotation ?? '{}');
  } catch {
    return {};
  }
  const view: PeerView = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return view;
  for (const [peer, e] of Object.entries(raw as Record<string, { reachable?: unknown; lastSeen?: unknown; suspicion?: unknown } | null>)) {
    if (typeof e?.reachable !== 'boolean') continue;
    view[peer] = {
      reachable: e.reachable,
      lastSeen: typeof e.lastSeen === 'string' ? e.lastSeen : null,
      suspicion: typeof e.suspicion === 'number' ? e.suspicion : 0,
    };
  }
  return view;
}
