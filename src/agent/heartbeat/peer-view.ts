import type { PeerState } from './peer-tracker.js';
import type { PeerView } from '../../contract/peer-view.js';

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
