import type { PowerDriver, PowerSpec, PowerState } from '../../power/driver.js';
import type { BoxSpec } from '../../spec/schema.js';
import type { Log } from '../../base/log.js';
import type { ControlPlaneReport, RoleDriver } from '../../contract/role-driver.js';
import { decideQuorum, summarize, type PeerInput, type QuorumAction, type QuorumDecision, type QuorumInput, type QuorumReason } from './decide.js';
import type { ControlPlaneSummary, RecoveryPhase } from './summary.js';
/**
 * No leader for this long before a quorum counts as lost: several of etcd's election timeouts
 * (1 s upstream). Only a second guard: with a majority of voters' agents heard, it never counts
 * as lost however long the election takes. K3s's 5 s election timeout is still covered, because
 * a survivor waits for the votes of every voter it hears, and those wait as long.
 */
export const DEFAULT_LOSS_AFTER_MS = 5000;

/**
 * How long the survivor says it reset the cluster (phase `reset` in its heartbeats): the other
 * former voters wipe their stale member when they hear it. Later, the guardian handles them.
 */
const ANNOUNCE_RESET_MS = 10 * 60_000;
/** A power-off that failed is tried again after this long (a BMC that was briefly busy). */
const FENCE_RETRY_MS = 30_000;

/** What /healthz and the Lease annotation show. */
export interface QuorumStatus {
  /**
   * `ok` while the control plane has a leader; `witness` for a module that is not a voter during a
   * recovery; `cold-start` for a server whose member is stopped while no agent heard has a cluster.
   */
  state: 'ok' | 'electing' | 'witness' | 'cold-start' | RecoveryPhase;
  lost: boolean;
  survivor?: string;
  missing: string[];
  reason?: QuorumReason;
  message?: string;
  /** What a person should do when it is stuck. */
  hint?: string;
  /** Missing voters confirmed off since the loss: powered off by this agent, or found off by their driver. */
  fenced: string[];
  /** RFC 3339: when this agent first saw the quorum lost. */
  lostSince?: string;
  /** RFC 3339: when this module reset the cluster to its member, and how long after the loss was seen. */
  resetAt?: string;
  resetAfterMs?: number;
}

export interface QuorumRecoveryOptions {
  self: string;
  /** Every module of the box, this one included. */
  modules: readonly string[];
  /** Each module's power spec, for those that have one. */
  power: Readonly<Record<string, PowerSpec>>;
  /** How this agent powers another module off (src/power); absent: it fences nothing. */
  powerDriver?: (p: PowerSpec) => PowerDriver;
  /** spec.controlPlane.quorumLossSafetySeconds in ms; absent: silence alone never counts. */
  safetyMs?: number;
  /** spec.controlPlane.powerOffGraceSeconds in ms. */
  powerOffGraceMs: number;
  lossAfterMs?: number;
  driver: Pick<RoleDriver, 'resetCluster' | 'demote' | 'restart'>;
  /** The module's member as the role loop last observed it; null before the first look. */
  report: () => ControlPlaneReport | null;
  /** The peers as the heartbeat detector sees them now. */
  peers: () => Record<string, { reachable: boolean; silentMs: number }>;
  log: Log;
  monoNow: () => number;
  wallNow: () => number;
  /** Default 500 ms. */
  checkEveryMs?: number;
  /** After a failed reset or demotion, wait this long before the next attempt. Default 5000 ms. */
  retryAfterMs?: number;
}

/** The options the spec gives (the rest comes from the agent): part of the agent's config. */
export function quorumSpecOptions(box: BoxSpec): Pick<QuorumRecoveryOptions, 'power' | 'safetyMs' | 'powerOffGraceMs'> {
  const seconds = box.spec.controlPlane.quorumLossSafetySeconds;
  return {
    power: Object.fromEntries(box.spec.modules.flatMap((m) => (m.power ? [[m.name, m.power]] : []))),
    powerOffGraceMs: box.spec.controlPlane.powerOffGraceSeconds * 1000,
    ...(seconds !== undefined ? { safetyMs: seconds * 1000 } : {}),
  };
}

/**
 * The shell around decideQuorum: keeps the peers' latest summaries and this agent's bookkeeping
 * (since when its member has no leader, what it fenced, whether it reset), decides every check,
 * and carries out the one action decided: power missing voters off, reset the cluster to this
 * member, or wipe a stale member. One action at a time; a reset is never repeated once done.
 */
export class QuorumRecovery {
  private readonly summaries = new Map<string, ControlPlaneSummary>();
  private readonly fenced = new Set<string>();
  /** What each missing voter's power driver said of its slot, and when (monotonic ms). */
  private readonly probes = new Map<string, { state: PowerState; at: number }>();
  private readonly fenceErrors: Record<string, string> = {};
  private fenceFailedAt = 0;
  private leaderSeenAt: number;
  private lostSince: number | null = null;
  private resetAt: number | null = null;
  private resetAfterMs: number | undefined;
  /** The action in flight: one at a time. */
  private acting: QuorumAction['kind'] | null = null;
  private retryAt = 0;
  private last: QuorumDecision = { action: { kind: 'none' }, lost: false, missing: [] };
  private lastLogged = '';
  /** This member as it last answered once its quorum counted as lost (see ownReport). */
  private lostMember: Pick<ControlPlaneReport, 'members' | 'raftIndex'> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private cachedSummary: ControlPlaneSummary | undefined;

  constructor(private readonly o: QuorumRecoveryOptions) {
    // Before the first report the member counts as having just had a leader: a freshly started
    // agent must not find a quorum lost before it could have seen one.
    this.leaderSeenAt = o.monoNow();
  }

  start(): void {
    this.timer = setInterval(() => this.check(), this.o.checkEveryMs ?? 500);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A peer's summary from an accepted heartbeat. */
  heard(peer: string, summary: ControlPlaneSummary | undefined): void {
    if (summary) this.summaries.set(peer, summary);
    else this.summaries.delete(peer);
  }

  /** What goes in this agent's next heartbeat. */
  summary(): ControlPlaneSummary {
    // Computed once per check, not once per heartbeat: the inputs move in seconds, and an idle
    // agent's CPU is mostly its heartbeats.
    this.cachedSummary ??= summarize(this.input(), this.last);
    return this.cachedSummary;
  }

  /**
   * The role loop asks before it starts this module's member (restart or promotion): never while
   * another module recovers the cluster, as this member's data is stale against it.
   */
  mayStartMember(): { ok: boolean; reason?: string } {
    const kind = this.last.action.kind;
    if (kind === 'standby' || kind === 'demote') return { ok: false, reason: this.last.message ?? 'a quorum-loss recovery is under way' };
    // The reset stops and starts the member itself; the role loop must not start it in between.
    if (this.acting === 'reset' || this.acting === 'demote' || this.acting === 'restart')
      return { ok: false, reason: `quorum recovery: ${this.acting} in progress` };
    return { ok: true };
  }

  status(): QuorumStatus {
    const d = this.last;
    const reason = d.action.kind === 'wait' || d.action.kind === 'refuse' ? d.action.reason : undefined;
    const state: QuorumStatus['state'] =
      d.phase ?? (d.action.kind === 'restart' || reason === 'cold-start' ? 'cold-start' : d.lost ? 'witness' : reason === 'electing' ? 'electing' : 'ok');
    const iso = (mono: number) => new Date(this.o.wallNow() - (this.o.monoNow() - mono)).toISOString();
    return {
      state,
      lost: d.lost,
      missing: d.missing,
      fenced: [...this.fenced].sort(),
      ...(d.vote ? { survivor: d.vote } : {}),
      ...(reason ? { reason } : {}),
      ...(d.message ? { message: d.message } : {}),
      ...(d.hint ? { hint: d.hint } : {}),
      ...(this.lostSince !== null ? { lostSince: iso(this.lostSince) } : {}),
      ...(this.resetAt !== null ? { resetAt: iso(this.resetAt) } : {}),
      ...(this.resetAfterMs !== undefined ? { resetAfterMs: this.resetAfterMs } : {}),
    };
  }

  /** One decision, and its action started; returns the decision (for tests). */
  check(): QuorumDecision {
    this.cachedSummary = undefined;
    const now = this.o.monoNow();
    const own = this.o.report();
    if (own?.leader !== undefined) this.leaderSeenAt = now;
    if (own?.leader !== undefined || own?.role !== 'server') this.lostMember = null;
    // While an action runs the member is in flux (a reset stops and starts it): what was decided
    // stands, and is what the heartbeats and the status keep saying, until the action is over.
    if (this.acting !== null) return this.last;
    if (now - this.fenceFailedAt >= FENCE_RETRY_MS) for (const m of Object.keys(this.fenceErrors)) delete this.fenceErrors[m];
    const d = decideQuorum(this.input());
    if (d.lost && this.lostSince === null) this.lostSince = now;
    if (d.lost && own?.members !== undefined && own.leader === undefined)
      this.lostMember = { members: own.members, ...(own.raftIndex !== undefined ? { raftIndex: own.raftIndex } : {}) };
    if (!d.lost && d.phase !== 'reset') {
      // The episode is over (or never began): a later loss starts from scratch.
      this.lostSince = null;
      this.lostMember = null;
      this.fenced.clear();
      this.probes.clear();
      for (const m of Object.keys(this.fenceErrors)) delete this.fenceErrors[m];
    }
    this.last = d;
    this.cachedSummary = undefined;
    this.logChange(d);
    if (now >= this.retryAt) void this.act(d);
    return d;
  }

  /**
   * This member's report, or, once it stops answering after its quorum counted as lost, what it
   * said last: a K3s server exits 7-20 s after losing its quorum (its controller-manager loses its
   * leader election) and, restarted, never answers again without a quorum (etcd first publishes the
   * member through raft), so a lone survivor would otherwise look like a stopped member forever
   * and never be reset. Its raft index cannot move without a leader, so the last one stands.
   * Never for a member that stopped while it had a leader, nor once a peer it hears has one (a
   * cut healed, a cluster recovered without it): that one is a stopped member of a live cluster,
   * which the role loop restarts or demotes as before; taken for a voter it would stand by, and
   * its cluster would stay one voter short.
   */
  private ownReport(peers: Readonly<Record<string, PeerInput>>): ControlPlaneReport | null {
    const own = this.o.report();
    if (own?.role !== 'server' || own.members !== undefined || this.lostMember === null) return own;
    if (Object.values(peers).some((p) => p.reachable && p.summary?.leader)) return own;
    return { ...own, ...this.lostMember };
  }

  private input(): QuorumInput {
    const now = this.o.monoNow();
    const peers: Record<string, PeerInput> = {};
    for (const [name, p] of Object.entries(this.o.peers())) {
      const summary = this.summaries.get(name);
      peers[name] = { reachable: p.reachable, silentMs: p.silentMs, ...(summary ? { summary } : {}) };
    }
    return {
      self: this.o.self,
      modules: this.o.modules,
      powered: new Set(this.o.powerDriver ? Object.keys(this.o.power) : []),
      own: this.ownReport(peers),
      leaderlessMs: now - this.leaderSeenAt,
      peers,
      fenced: this.fenced,
      probes: Object.fromEntries([...this.probes].map(([m, p]) => [m, { state: p.state, ageMs: now - p.at }])),
      powerOffGraceMs: this.o.powerOffGraceMs,
      fenceErrors: this.fenceErrors,
      lossAfterMs: this.o.lossAfterMs ?? DEFAULT_LOSS_AFTER_MS,
      safetyMs: this.o.safetyMs,
      resetDone: this.resetAt !== null && now - this.resetAt < ANNOUNCE_RESET_MS,
    };
  }

  private async act(d: QuorumDecision): Promise<void> {
    const a = d.action;
    if (a.kind !== 'probe' && a.kind !== 'fence' && a.kind !== 'reset' && a.kind !== 'demote' && a.kind !== 'restart') return;
    this.acting = a.kind;
    this.cachedSummary = undefined;
    const started = this.o.monoNow();
    // Kept from before the action: the member has a leader again half way through a reset.
    const lostSince = this.lostSince;
    try {
      if (a.kind === 'probe') {
        await Promise.all(a.modules.map((m) => this.probe(m)));
      } else if (a.kind === 'fence') {
        await Promise.all(a.modules.map((m) => this.fence(m)));
      } else if (a.kind === 'reset') {
        this.o.log('warn', 'quorum lost: resetting the cluster to this module', { missing: d.missing, fenced: [...this.fenced] });
        await this.o.driver.resetCluster();
        this.lostMember = null;
        const now = this.o.monoNow();
        this.resetAt = now;
        this.cachedSummary = undefined;
        this.resetAfterMs = lostSince === null ? undefined : Math.round(now - lostSince);
        this.o.log('info', 'cluster reset to this module; the guardian promotes modules back up to the voter count', {
          tookMs: Math.round(now - started),
          sinceLossMs: this.resetAfterMs,
        });
      } else if (a.kind === 'demote') {
        this.o.log('warn', 'the survivor reset the cluster: wiping this stale member', { survivor: d.vote });
        await this.o.driver.demote();
        this.lostMember = null;
      } else {
        this.o.log('warn', 'no cluster heard and every server was off: starting this member on its data');
        await this.o.driver.restart();
      }
    } catch (e) {
      this.retryAt = this.o.monoNow() + (this.o.retryAfterMs ?? 5000);
      this.o.log('error', `quorum recovery: ${a.kind} failed; retrying`, { error: (e as Error).message });
    } finally {
      this.acting = null;
      this.cachedSummary = undefined;
    }
  }

  /** Asks a missing voter's power driver whether its slot is on; a driver that does not answer says 'unknown'. */
  private async probe(module: string): Promise<void> {
    const spec = this.o.power[module]!;
    const state = await this.o.powerDriver!(spec)
      .state(module, spec.slot)
      .catch((): PowerState => 'unknown');
    this.probes.set(module, { state, at: this.o.monoNow() });
    // Off is off, whoever switched it: it counts as fenced (the status lists the voters confirmed off).
    if (state === 'off') {
      this.fenced.add(module);
      this.o.log('info', 'quorum lost: a missing voter is powered off already', { target: module, driver: spec.driver });
    }
  }

  /** Powers a missing voter off and keeps it as fenced only when its driver then reports it off. */
  private async fence(module: string): Promise<void> {
    const spec = this.o.power[module]!;
    const driver = this.o.powerDriver!(spec);
    try {
      this.o.log('warn', 'quorum lost: powering off a missing voter', { target: module, driver: spec.driver, slot: spec.slot });
      await driver.powerOff(module, spec.slot);
      const state = await driver.state(module, spec.slot);
      if (state !== 'off') throw new Error(`the ${spec.driver} driver reports it ${state} after powering it off`);
      this.fenced.add(module);
      this.cachedSummary = undefined;
    } catch (e) {
      this.fenceErrors[module] = (e as Error).message;
      this.fenceFailedAt = this.o.monoNow();
      this.o.log('error', 'quorum lost: cannot power off a missing voter', { target: module, error: (e as Error).message });
    }
  }

  private logChange(d: QuorumDecision): void {
    const reason = d.action.kind === 'wait' || d.action.kind === 'refuse' ? d.action.reason : '';
    const key = `${d.action.kind}:${reason}:${d.vote ?? ''}`;
    if (key === this.lastLogged) return;
    this.lastLogged = key;
    if (d.action.kind === 'none' && !d.lost) return;
    this.o.log(d.action.kind === 'refuse' ? 'error' : 'warn', 'quorum', {
      action: d.action.kind,
      reason: reason || undefined,
      survivor: d.vote,
      missing: d.missing,
      message: d.message,
      hint: d.hint,
    });
  }
}
