import { PREFIX } from '../../spec/labels.js';
import type { PeerState } from './peer-tracker.js';

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
 * The tracker's states in the published format. The tracker runs on a monotonic clock; a
 * `lastSeen` is placed on the wall clock by its age, so the controller can compare it with
 * node Lease renewTimes.
 */
export function peerView(states: ReadonlyMap<string, PeerState>, monoNow: number, wallNow: number): PeerView {
  const view: PeerView = {};
  for (const [peer, s] of states) {
    view[peer] = {
      reachable: s.reachable,
      lastSeen: s.lastHeard === null ? null : new Date(wallNow - (monoNow - s.lastHeard)).toISOString(),
      suspicion: Math.round(s.suspicion * 100) / 100,
    };
  }
  return view;
}

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
