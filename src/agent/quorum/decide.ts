import type { ControlPlaneReport } from '../../contract/role-driver.js';
import type { PowerState } from '../../power/driver.js';
import type { ControlPlaneSummary, RecoveryPhase } from './summary.js';
import { majorityOf } from '../../base/majority.js';

/**
 * Quorum-loss recovery without the API (docs/decisions/0002-control-plane.md, "Quorum loss").
 * Every agent runs this on what it knows: its own member, the peers it hears and the summaries
 * in their heartbeats. Pure: time comes in on one monotonic clock (ms), nothing here does I/O.
 *
 * The rule:
 * - quorum is lost when this module's member has seen no leader for `leaderlessMs` AND fewer
 *   than a majority of the voters (its member list) are heard with a running member;
 * - nothing is fenced, reset or voted for unless this agent hears a majority of the box's
 *   modules, itself included: a module alone, or in a minority, cannot tell "they are down" from
 *   "I am cut off", and the majority side may be taking writes meanwhile. At most one side of any
 *   partition has such a majority;
 * - the survivor is the heard voter with the highest raft index (its data is the most recent);
 *   the smallest name breaks ties, so agents with the same data always name the same one;
 * - it fences or resets only when every agent it hears, witnesses included, votes for it, and each
 *   missing voter is either off (its power driver reports the slot off, by itself or once the
 *   survivor powered it off) or confirmed silent by every agent it hears for `safetyMs`;
 * - a missing voter whose slot is on may be rebooting, with its data: it is powered off only once
 *   it has been silent for `powerOffGraceMs`, longer than a reboot, so that it can come back and
 *   be counted first;
 * - the other voters it hears stand by, and wipe their stale member once the survivor reports
 *   the reset: the guardian promotes them back, so a stale member never starts again.
 * Anything else waits, or refuses with a reason a person can act on: nothing is reset then.
 */

/** A missing voter's slot is asked about again this often while it is reported on (ms). */
export const PROBE_EVERY_MS = 5000;

export interface PeerInput {
  /** The peer's agent is heard (the heartbeat detector's verdict). */
  reachable: boolean;
  /** ms since its last accepted heartbeat (since this agent started, before the first). */
  silentMs: number;
  /** The summary of its last heartbeat, if it sent one. */
  summary?: ControlPlaneSummary;
}

export interface QuorumInput {
  self: string;
  /** Every module of the box, this one included (spec order). */
  modules: readonly string[];
  /** Modules with a power driver in the spec: the survivor can fence these itself. */
  powered: ReadonlySet<string>;
  /** This module's member as its role driver last observed it; null before the first look. */
  own: ControlPlaneReport | null;
  /** How long this module's member has had no leader, in ms (0 while it has one). */
  leaderlessMs: number;
  /** The other modules, by name. */
  peers: Readonly<Record<string, PeerInput>>;
  /** Modules whose power driver confirmed them off since the quorum was lost (after a power-off, or on a probe). */
  fenced: ReadonlySet<string>;
  /** What each missing voter's power driver last said of its slot, and how long ago (ms). */
  probes: Readonly<Record<string, { state: PowerState; ageMs: number }>>;
  /** A missing voter whose slot is on is powered off only once this agent has not heard it for this long (ms). */
  powerOffGraceMs: number;
  /** Power-off attempts that failed, by module: the error, for the reason shown to people. */
  fenceErrors: Readonly<Record<string, string>>;
  /** No leader for this long before quorum counts as lost (several election timeouts). */
  lossAfterMs: number;
  /** spec.controlPlane.quorumLossSafetySeconds in ms; undefined: silence alone never suffices. */
  safetyMs: number | undefined;
  /** This agent reset the cluster to its member (it says so while that cluster has a leader). */
  resetDone: boolean;
}

/** Why an agent waits or refuses: stable codes, for status, metrics and tests. */
export type QuorumReason =
  | 'electing'
  | 'majority-up'
  | 'member-not-running'
  | 'survivor-unknown'
  | 'votes-pending'
  | 'survivors-disagree'
  | 'confirming'
  | 'no-fence'
  | 'minority'
  | 'fence-failed'
  | 'rebooting'
  | 'cold-start';

export type QuorumAction =
  /** Nothing to do: the control plane has a leader, or this agent plays no part. */
  | { kind: 'none' }
  | { kind: 'wait'; reason: QuorumReason }
  /** Survivor: ask these missing voters' power drivers whether their slots are on (nothing is switched). */
  | { kind: 'probe'; modules: string[] }
  /** Survivor: power these missing voters off (their power driver), then decide again. */
  | { kind: 'fence'; modules: string[] }
  /** Survivor: make this member the only voter, keeping its data. */
  | { kind: 'reset' }
  /** Another voter is the survivor: do not start this member, wait. */
  | { kind: 'standby' }
  /** The survivor has reset: wipe this stale member so it can only come back by promotion. */
  | { kind: 'demote' }
  /** Every server was off (a box power cycle): start this member again on its own data. */
  | { kind: 'restart' }
  | { kind: 'refuse'; reason: QuorumReason };

export interface QuorumDecision {
  action: QuorumAction;
  /** Quorum is lost as this agent sees it (voters only; witnesses follow the voters they hear). */
  lost: boolean;
  /** The survivor this agent votes for; absent when it does not vote. */
  vote?: string;
  /** Voters not heard with a running member. */
  missing: string[];
  /** What goes in this agent's heartbeats. */
  phase?: RecoveryPhase;
  /** For people: what is happening and, when stuck, what to do. */
  message?: string;
  hint?: string;
}

export interface Candidate {
  name: string;
  raftIndex: number;
}

/** Highest raft index; on a tie the smallest name. Undefined when there is no candidate. */
export function chooseSurvivor(candidates: readonly Candidate[]): string | undefined {
  let best: Candidate | undefined;
  for (const c of candidates) {
    if (!best || c.raftIndex > best.raftIndex || (c.raftIndex === best.raftIndex && c.name < best.name)) best = c;
  }
  return best?.name;
}

/** The voting members this module's member lists (itself included when it is one). */
export function votersOf(own: ControlPlaneReport | null): string[] {
  return (own?.members ?? [])
    .filter((m) => !m.learner)
    .map((m) => m.name)
    .sort();
}

/**
 * Whether this module's member is a voter of the cluster it knows: what its heartbeats say. Only
 * a member that answers has a member list, so a stopped one is no voter here.
 */
export function isVoter(self: string, own: ControlPlaneReport | null): boolean {
  return own?.role === 'server' && votersOf(own).includes(self);
}

/** The summary this agent sends, from its report, its peers and its decision. */
export function summarize(i: Pick<QuorumInput, 'self' | 'own' | 'peers'>, d: Pick<QuorumDecision, 'phase' | 'vote'>): ControlPlaneSummary {
  const down: Record<string, number> = {};
  for (const [peer, p] of Object.entries(i.peers)) if (!p.reachable) down[peer] = Math.floor(p.silentMs / 1000);
  return {
    role: i.own?.role ?? 'agent',
    voter: isVoter(i.self, i.own),
    ...(i.own?.raftIndex !== undefined ? { raftIndex: i.own.raftIndex } : {}),
    leader: i.own?.leader !== undefined,
    ...(Object.keys(down).length > 0 ? { down } : {}),
    ...(d.phase ? { phase: d.phase } : {}),
    ...(d.vote ? { vote: d.vote } : {}),
  };
}

const list = (names: readonly string[]) => names.join(', ');

export function decideQuorum(i: QuorumInput): QuorumDecision {
  const heard = Object.entries(i.peers).filter(([, p]) => p.reachable);
  // A voter heard with a running member and a raft index: a candidate survivor.
  const heardVoters: Candidate[] = heard
    .filter(([, p]) => p.summary?.voter && p.summary.raftIndex !== undefined)
    .map(([name, p]) => ({ name, raftIndex: p.summary!.raftIndex! }));

  if (i.own?.role === 'server' && i.own.members === undefined) return coldStart(i, heard);
  if (!isVoter(i.self, i.own)) return witness(heard, heardVoters);
  const own = i.own!;
  if (i.resetDone && own.leader !== undefined) {
    return {
      action: { kind: 'none' },
      lost: false,
      missing: [],
      phase: 'reset',
      vote: i.self,
      message: 'this module reset the cluster to its member; the guardian promotes modules back up to the voter count',
    };
  }
  if (own.leader !== undefined) return { action: { kind: 'none' }, lost: false, missing: [] };

  const voters = votersOf(own);
  const candidates: Candidate[] = [
    ...(own.raftIndex !== undefined ? [{ name: i.self, raftIndex: own.raftIndex }] : []),
    ...heardVoters.filter((c) => voters.includes(c.name)),
  ];
  const up = new Set(candidates.map((c) => c.name));
  up.add(i.self);
  const missing = voters.filter((v) => !up.has(v));
  if (i.leaderlessMs < i.lossAfterMs) {
    return {
      action: { kind: 'wait', reason: 'electing' },
      lost: false,
      missing,
      message: `no etcd leader for ${Math.round(i.leaderlessMs / 1000)} s: waiting for an election`,
    };
  }
  // A voter that has a leader while this member has none for so long: this member is not part of
  // its cluster any more (it was reset or replaced). Never start it against that cluster.
  const leading = heard.filter(([n, p]) => p.summary?.voter && p.summary.leader && n !== i.self).map(([n]) => n);
  const resetBy = leading.find((n) => i.peers[n]!.summary!.phase === 'reset');
  if (resetBy !== undefined) {
    return {
      action: { kind: 'demote' },
      lost: true,
      missing,
      phase: 'standby',
      vote: resetBy,
      message: `${resetBy} reset the cluster to its member: wiping this stale member so that it rejoins by promotion`,
    };
  }
  if (leading.length > 0) {
    return {
      action: { kind: 'standby' },
      lost: false,
      missing,
      phase: 'standby',
      message: `${list(leading)} ${leading.length > 1 ? 'have' : 'has'} an etcd leader that this member does not follow: it is no longer part of that cluster, so it stays stopped until the guardian resets it`,
    };
  }
  if (up.size >= majorityOf(voters.length)) {
    return {
      action: { kind: 'wait', reason: 'majority-up' },
      lost: false,
      missing,
      message: `no etcd leader, but ${up.size} of ${voters.length} voters run: waiting for them to elect one`,
    };
  }

  const base = { lost: true, missing };
  // Only a side that hears a majority of the box's modules may choose a survivor, fence or reset:
  // the other side of a partition may be the one with the quorum, taking writes.
  const needed = majorityOf(i.modules.length);
  if (heard.length + 1 < needed) {
    return {
      ...base,
      action: { kind: 'refuse', reason: 'minority' },
      phase: 'refused',
      message: `quorum lost as this module sees it; it hears ${heard.length + 1} of ${i.modules.length} modules (fewer than ${needed}): it cannot tell whether ${list(missing)} ${missing.length > 1 ? 'are' : 'is'} down or it is cut off, so it neither fences nor resets`,
      hint: `restore the box network; or, if ${list(missing)} ${missing.length > 1 ? 'are' : 'is'} really gone, reset the cluster by hand (docs/runbooks/control-plane.md, "5. Quorum loss")`,
    };
  }
  // A voter whose agent answers but whose member does not run may hold the newest data: its
  // agent restarts it (still a member), so wait rather than reset past it.
  const notRunning = voters.filter((v) => v !== i.self && !up.has(v) && i.peers[v]?.reachable);
  if (notRunning.length > 0) {
    return {
      ...base,
      action: { kind: 'wait', reason: 'member-not-running' },
      phase: 'waiting',
      message: `quorum lost; the agent of ${list(notRunning)} answers but its etcd member does not run, and its data may be the most recent`,
      hint: `start the member of ${list(notRunning)} (its agent does so while it is a member), or power the module off`,
    };
  }
  const survivor = own.raftIndex === undefined ? undefined : chooseSurvivor(candidates);
  if (survivor === undefined) {
    return { ...base, action: { kind: 'wait', reason: 'survivor-unknown' }, phase: 'waiting', message: 'quorum lost; this member reports no raft index yet' };
  }
  const withVote = { ...base, vote: survivor };

  if (survivor !== i.self) {
    return {
      ...withVote,
      action: { kind: 'standby' },
      phase: 'standby',
      message: `quorum lost; ${survivor} has the most recent data and recovers the cluster: this member stays stopped`,
    };
  }

  // Every agent this one hears must vote for it: the voters all of them, witnesses when they vote.
  const dissent = heard.filter(([, p]) => p.summary?.vote !== undefined && p.summary.vote !== i.self);
  if (dissent.length > 0) {
    return {
      ...withVote,
      action: { kind: 'wait', reason: 'survivors-disagree' },
      phase: 'waiting',
      message: `quorum lost; agents disagree on the survivor: ${dissent.map(([n, p]) => `${n} votes ${p.summary!.vote}`).join(', ')}, this module votes itself`,
      hint: 'the agents see different peers (a partial network failure): check the box network; nothing is reset until they agree',
    };
  }
  // Every agent heard, witnesses included, must have voted for it: one that has said nothing yet
  // (its first summary is still on the way) might hear the other side of a cut.
  const pending = heard.filter(([, p]) => p.summary?.vote !== i.self).map(([n]) => n);
  if (pending.length > 0) {
    return {
      ...withVote,
      action: { kind: 'wait', reason: 'votes-pending' },
      phase: 'waiting',
      message: `quorum lost; waiting for the votes of ${list(pending)}`,
    };
  }

  const off = (m: string) => i.fenced.has(m) || i.probes[m]?.state === 'off';
  // Asking a power driver switches nothing: a slot already off (a power cut) needs no grace.
  const toProbe = missing.filter((m) => i.powered.has(m) && !off(m) && (i.probes[m] === undefined || i.probes[m].ageMs >= PROBE_EVERY_MS));
  if (toProbe.length > 0) {
    return {
      ...withVote,
      action: { kind: 'probe', modules: toProbe },
      phase: 'fencing',
      message: `quorum lost; asking the power drivers of ${list(toProbe)} whether they are on`,
    };
  }
  const silentFor = (m: string) => i.peers[m]?.silentMs ?? 0;
  const toFence = missing.filter((m) => i.powered.has(m) && !off(m) && i.fenceErrors[m] === undefined && silentFor(m) >= i.powerOffGraceMs);
  if (toFence.length > 0) {
    return {
      ...withVote,
      action: { kind: 'fence', modules: toFence },
      phase: 'fencing',
      message: `quorum lost; powering off ${list(toFence)} (silent for the ${Math.round(i.powerOffGraceMs / 1000)} s grace) before resetting the cluster to this module`,
    };
  }
  const unsafe = missing.filter((m) => !off(m) && !confirmedDown(i, heard, m));
  if (unsafe.length === 0) {
    return {
      ...withVote,
      action: { kind: 'reset' },
      phase: 'resetting',
      message: `quorum lost; resetting the cluster to this module (missing voters ${list(missing)} are off or confirmed down)`,
    };
  }
  const rebooting = unsafe.filter((m) => i.powered.has(m) && i.fenceErrors[m] === undefined && silentFor(m) < i.powerOffGraceMs);
  if (rebooting.length > 0) {
    return {
      ...withVote,
      action: { kind: 'wait', reason: 'rebooting' },
      phase: 'waiting',
      message: `quorum lost; ${list(rebooting)} ${rebooting.length > 1 ? 'are' : 'is'} powered on but silent, perhaps rebooting with ${rebooting.length > 1 ? 'their' : 'its'} data: powered off only after ${Math.round(i.powerOffGraceMs / 1000)} s of silence`,
    };
  }
  return unsafeVerdict(i, heard, withVote, unsafe);
}

/** Every agent this one hears, and this one, has not heard `m` for the safety period. */
function confirmedDown(i: QuorumInput, heard: [string, PeerInput][], m: string): boolean {
  if (i.safetyMs === undefined || heard.length + 1 < majorityOf(i.modules.length)) return false;
  const self = i.peers[m];
  if (!self || self.reachable || self.silentMs < i.safetyMs) return false;
  return heard.every(([, p]) => (p.summary?.down?.[m] ?? -1) * 1000 >= i.safetyMs!);
}

function unsafeVerdict(i: QuorumInput, heard: [string, PeerInput][], d: Omit<QuorumDecision, 'action'>, unsafe: string[]): QuorumDecision {
  const failed = unsafe.filter((m) => i.fenceErrors[m] !== undefined);
  const unpowered = unsafe.filter((m) => !i.powered.has(m));
  const manual = `make sure ${list(unsafe)} ${unsafe.length > 1 ? 'are' : 'is'} powered off (unplug ${unsafe.length > 1 ? 'them' : 'it'}); the agents then recover by themselves once the safety period passes`;
  if (failed.length > 0) {
    return {
      ...d,
      action: { kind: 'refuse', reason: 'fence-failed' },
      phase: 'refused',
      message: `quorum lost; cannot power off ${failed.map((m) => `${m} (${i.fenceErrors[m]})`).join(', ')}, so ${failed.length > 1 ? 'they' : 'it'} might still run`,
      hint: `check the power driver of ${list(failed)}; or power ${failed.length > 1 ? 'them' : 'it'} off by hand and set spec.controlPlane.quorumLossSafetySeconds`,
    };
  }
  if (i.safetyMs === undefined) {
    return {
      ...d,
      action: { kind: 'refuse', reason: 'no-fence' },
      phase: 'refused',
      message: `quorum lost; ${list(unpowered)} ${unpowered.length > 1 ? 'have' : 'has'} no power driver and spec.controlPlane.quorumLossSafetySeconds is not set: ${unpowered.length > 1 ? 'they' : 'it'} might still run, so nothing is reset`,
      hint: `give ${list(unpowered)} a power driver, or set spec.controlPlane.quorumLossSafetySeconds and ${manual}`,
    };
  }
  const secs = Math.round(i.safetyMs / 1000);
  const statements = unsafe.map((m) => {
    const own = `${Math.floor((i.peers[m]?.silentMs ?? 0) / 1000)} s here`;
    const others = heard.map(([n, p]) => `${p.summary?.down?.[m] ?? 'not confirmed'}${p.summary?.down?.[m] !== undefined ? ' s' : ''} on ${n}`);
    return `${m} (${[own, ...others].join(', ')})`;
  });
  return {
    ...d,
    action: { kind: 'wait', reason: 'confirming' },
    phase: 'waiting',
    message: `quorum lost; waiting until every agent has not heard ${list(unsafe)} for ${secs} s: ${statements.join('; ')}`,
    hint: `nothing is reset before that; to recover sooner, ${manual}`,
  };
}

/**
 * A server whose member is stopped (its data kept) and that no live cluster vouches for: the role
 * loop waits, since only the live cluster may say it still belongs. When no agent it hears has a
 * leader or recovers one, every server was off (the box lost power): start the member on its data,
 * as K3s does at boot, so the old voters find their quorum again. Only among a majority of the
 * modules, all of which say so, and after `lossAfterMs`: a module alone, or one that has not yet
 * heard its peers, might be the only one not to see a cluster that was reset meanwhile.
 */
function coldStart(i: QuorumInput, heard: [string, PeerInput][]): QuorumDecision {
  const none: QuorumDecision = { action: { kind: 'none' }, lost: false, missing: [] };
  const live = heard.filter(([, p]) => p.summary?.leader || (p.summary?.phase !== undefined && p.summary.phase !== 'standby'));
  if (live.length > 0) return none;
  const wait = (message: string): QuorumDecision => ({ action: { kind: 'wait', reason: 'cold-start' }, lost: false, missing: [], message });
  if (heard.length + 1 < majorityOf(i.modules.length))
    return wait(
      `member stopped and no cluster heard; this module hears ${heard.length + 1} of ${i.modules.length} modules, too few to tell that every server was off`,
    );
  const silent = heard.filter(([, p]) => p.summary === undefined).map(([n]) => n);
  if (silent.length > 0) return wait(`member stopped and no cluster heard; waiting for the control-plane summaries of ${list(silent)}`);
  if (i.leaderlessMs < i.lossAfterMs) return wait('member stopped and no cluster heard: waiting a little before starting it on its data');
  return {
    action: { kind: 'restart' },
    lost: false,
    missing: [],
    message: 'every server was off: starting this member on its data, so that the voters find their quorum again',
  };
}

/** A module that is not a voter: it votes for the survivor the voters it hears would choose, once one of them recovers. */
function witness(heard: [string, PeerInput][], heardVoters: Candidate[]): QuorumDecision {
  // A survivor announcing its finished reset, or a voter standing by, recovers nothing any more.
  const recovering = heard.some(([, p]) => p.summary?.voter && p.summary.phase !== undefined && p.summary.phase !== 'reset' && p.summary.phase !== 'standby');
  if (!recovering) return { action: { kind: 'none' }, lost: false, missing: [] };
  const vote = chooseSurvivor(heardVoters);
  return {
    action: { kind: 'none' },
    lost: true,
    missing: [],
    ...(vote ? { vote } : {}),
    message: vote ? `a quorum loss is being recovered: this module witnesses for ${vote}` : 'a quorum loss is being recovered',
  };
}
