import { RenewalClock, renewalMarker } from '../../kube/observed-time.js';
import { backoffMs } from '../../base/backoff.js';
import { CONTROL_PLANE_ANNOTATIONS, parseControlPlaneReport, type DesiredRole } from '../../contract/control-plane.js';
import { LABELS } from '../../contract/labels.js';
import { METADATA_LIST, METADATA_ONLY, type ApiClient } from '../api/client.js';
import type { Log } from '../../base/log.js';
import type { ControlPlaneReport, RoleDriver } from '../../contract/role-driver.js';
import { clusterView, decideRole, type ClusterView, type RoleAction } from './decide.js';
import { SYSTEM_NAMESPACE, AGENT_LEASE_SECONDS } from '../../contract/leases.js';

/**
 * The agent's role loop (docs/decisions/0002-control-plane.md): it observes its module's
 * control-plane member through the role driver and publishes that report (on the agent Lease,
 * through `onReport`); when no action is in flight it reads its Node's desired role, the removals
 * asked for, and the cluster as other agents report it (never holding up the observations), and
 * acts through the driver: one action at a time, each idempotent, retried with capped backoff
 * when it fails. Settled (nothing to do, no membership change of the guardian under way, and an
 * agent or a healthy server), it looks every 2 s; otherwise every second.
 */

export interface RoleLoopOptions {
  driver: RoleDriver;
  client: Pick<ApiClient, 'request' | 'server'>;
  box: string;
  module: string;
  log: Log;
  /** How often the member is observed and reported while something is pending or wrong. Default 1000 ms. */
  everyMs?: number;
  /**
   * How often, when the last look found nothing to do, the Node and the cluster are read again
   * from the API; and, when the member is settled too, how often it is observed. Default 2000
   * ms: every agent observing and reading every second is most of an idle agent's CPU. A member
   * that turns sick shows at most one such period later, and is then observed every `everyMs`;
   * a pending change (an action, a wait) is looked at every `everyMs`.
   */
  idleEveryMs?: number;
  /**
   * The clock of its waits and of other agents' reports' ages (ms). Monotonic, never the wall
   * clock: an NTP step on a board without an RTC must not stall a backoff for as long as the step,
   * nor make another module's report look fresh or stale. Default performance.now.
   */
  monoNow?: () => number;
  /** Each report as observed (the Lease publisher and the heartbeats carry it). */
  onReport?: (report: ControlPlaneReport) => void;
  /** Quorum-loss recovery's veto before a member is started (src/agent/quorum). Default: always ok. */
  mayStartMember?: () => { ok: boolean; reason?: string };
}

/** A report older than this is not evidence of a healthy cluster (a few missed Lease renewals). */
const FRESH_MS = AGENT_LEASE_SECONDS * 3000;
/** Backoff after a failed action: doubles from 1 s up to 30 s. */
const BACKOFF_MAX_MS = 30_000;

/**
 * When the loop observes next, and whether this look also reads the API (the caller adds: no
 * action in flight, no read in flight, no backoff). Pure.
 */
export function cadence(o: { idle: boolean; report: ControlPlaneReport; sinceDecidedMs: number; everyMs: number; idleEveryMs: number }): {
  decide: boolean;
  nextMs: number;
} {
  const settled = o.idle && (o.report.role === 'agent' || o.report.healthy);
  // Settled, each look is already one idle period after the last.
  if (settled) return { decide: true, nextMs: o.idleEveryMs };
  return { decide: !o.idle || o.sinceDecidedMs >= o.idleEveryMs, nextMs: o.everyMs };
}

type Annotated = { metadata?: { name?: string; annotations?: Record<string, string> }; spec?: { renewTime?: string } };

export class RoleLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private acting: Promise<void> | undefined;
  private deciding = false;
  private lastDecided = Number.NEGATIVE_INFINITY;
  private idle = false;
  private failures = 0;
  private notBefore = 0;
  private lastReport: ControlPlaneReport | undefined;
  private lastWait = '';
  private lastError = '';
  private lastState = '';
  private readonly everyMs: number;
  private readonly idleEveryMs: number;
  private readonly mono: () => number;
  /** When each agent Lease was seen renewed (src/kube/observed-time.ts). */
  private readonly renewals: RenewalClock;

  constructor(private readonly o: RoleLoopOptions) {
    this.everyMs = o.everyMs ?? 1000;
    this.idleEveryMs = o.idleEveryMs ?? 2000;
    this.mono = o.monoNow ?? (() => performance.now());
    this.renewals = new RenewalClock(this.mono);
  }

  /** The last report observed (undefined before the first). */
  latest(): ControlPlaneReport | undefined {
    return this.lastReport;
  }

  start(): void {
    void this.tick();
  }

  /** Stops ticking; an action in flight finishes (the driver's processes are detached anyway). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    let next = this.everyMs;
    try {
      const report = await this.o.driver.observe();
      this.lastReport = report;
      this.o.onReport?.(report);
      this.logState(report);
      const now = this.mono();
      const c = cadence({ idle: this.idle, report, sinceDecidedMs: now - this.lastDecided, everyMs: this.everyMs, idleEveryMs: this.idleEveryMs });
      next = c.nextMs;
      // Not awaited: an API that does not answer (quorum lost) must not delay the next
      // observation, which quorum-loss recovery and the Lease report rely on.
      if (!this.acting && !this.deciding && now >= this.notBefore && c.decide) {
        this.deciding = true;
        this.lastDecided = now;
        void this.decideAndAct(report)
          .then(
            () => {
              this.lastError = '';
            },
            (e: unknown) => {
              this.idle = false;
              this.warnOnce(e);
            },
          )
          .finally(() => {
            this.deciding = false;
          });
      }
    } catch (e) {
      this.warnOnce(e);
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), next);
    this.timer.unref();
  }

  /**
   * The member's state, once per change (role, running, healthy and why not): the timeline of a
   * promotion or a recovery, which the Lease annotation only shows as it is now.
   */
  private logState(r: ControlPlaneReport): void {
    const state = `${r.role}/${r.running ? 'running' : 'stopped'}/${r.healthy ? 'healthy' : 'not healthy'}${r.message ? `: ${r.message}` : ''}`;
    if (state === this.lastState) return;
    this.lastState = state;
    this.o.log('info', 'role: member', {
      role: r.role,
      running: r.running,
      healthy: r.healthy,
      ...(r.leader ? { leader: r.leader } : {}),
      ...(r.message ? { message: r.message } : {}),
    });
  }

  /** Once per distinct error: an API outage would otherwise log every second. */
  private warnOnce(e: unknown): void {
    const error = (e as Error).message;
    if (error !== this.lastError) this.o.log('warn', 'role loop: cannot observe or read the API; retrying every tick', { error });
    this.lastError = error;
  }

  private async decideAndAct(report: ControlPlaneReport): Promise<void> {
    const own = await this.get(`/api/v1/nodes/${this.o.module}`);
    const annotations = (own as Annotated | undefined)?.metadata?.annotations ?? {};
    const desiredValue = annotations[CONTROL_PLANE_ANNOTATIONS.desiredRole];
    const desired: DesiredRole | undefined = desiredValue === 'server' || desiredValue === 'agent' ? desiredValue : undefined;
    // Only a healthy voter acts on removals, and only it lists the nodes for them.
    const { removals, changing } = report.role === 'server' && report.healthy ? await this.membership() : { removals: [], changing: false };
    const needsCluster = desired !== undefined || (report.role === 'server' && !report.running);
    const cluster = needsCluster ? await this.cluster() : undefined;
    const action = decideRole({
      module: this.o.module,
      report,
      removals,
      apiServer: this.o.client.server,
      mayStartMember: this.o.mayStartMember?.() ?? { ok: true },
      promotesLearners: this.o.driver.promoteLearner !== undefined,
      ...(desired ? { desired } : {}),
      ...(cluster ? { cluster } : {}),
    });
    // A voter is not settled while the guardian changes the membership: each step waits for
    // every voter's report to show the last one.
    this.idle = action.type === 'none' && desired === undefined && !changing;
    if (action.type === 'none') return;
    if (action.type === 'wait') {
      if (action.reason !== this.lastWait) this.o.log('info', 'role loop waiting', { reason: action.reason });
      this.lastWait = action.reason;
      return;
    }
    this.lastWait = '';
    this.acting = this.act(action).finally(() => {
      this.acting = undefined;
    });
  }

  private async act(action: Exclude<RoleAction, { type: 'none' | 'wait' }>): Promise<void> {
    const started = this.mono();
    this.o.log('info', `role: ${action.type}`, { reason: action.reason, ...('member' in action ? { member: action.member } : {}) });
    try {
      switch (action.type) {
        case 'promote':
          await this.o.driver.promote(action.target);
          break;
        case 'demote':
          await this.o.driver.demote();
          break;
        case 'restart':
          await this.o.driver.restart();
          break;
        case 'remove':
          await this.o.driver.removeMember(action.member);
          break;
        case 'promote-learner':
          await this.o.driver.promoteLearner?.(action.member);
          break;
      }
      this.failures = 0;
      this.o.log('info', `role: ${action.type} done`, { ms: this.mono() - started });
    } catch (e) {
      this.failures++;
      const delay = backoffMs(this.failures, { initialMs: 1000, maxMs: BACKOFF_MAX_MS }, Math.random());
      this.notBefore = this.mono() + delay;
      this.o.log('warn', `role: ${action.type} failed; retrying`, { error: (e as Error).message, retryInMs: delay });
    }
  }

  /** Nodes are read as metadata only: the loop needs their labels and annotations, never their status. */
  private async get(path: string, accept = METADATA_ONLY): Promise<unknown> {
    const res = await this.o.client.request('GET', path, undefined, accept);
    if (res.status !== 200) throw new Error(`GET ${path} answered HTTP ${res.status}`);
    return res.body;
  }

  /** The members the guardian asked to remove, and whether it is changing the membership at all. */
  private async membership(): Promise<{ removals: string[]; changing: boolean }> {
    const list = (await this.get(`/api/v1/nodes?labelSelector=${encodeURIComponent(`${LABELS.box}=${this.o.box}`)}`, METADATA_LIST)) as { items?: Annotated[] };
    const items = list.items ?? [];
    return {
      removals: items
        .filter((n) => n.metadata?.annotations?.[CONTROL_PLANE_ANNOTATIONS.etcdRemove] === 'true')
        .map((n) => n.metadata?.name ?? '')
        .filter((n) => n !== ''),
      changing: items.some((n) => n.metadata?.annotations?.[CONTROL_PLANE_ANNOTATIONS.change] !== undefined),
    };
  }

  /** Other agents' fresh reports, read from their Leases. */
  private async cluster(): Promise<ClusterView | undefined> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases?labelSelector=${encodeURIComponent(`${LABELS.box}=${this.o.box}`)}`;
    // Whole Leases: a report is fresh while this agent saw its Lease renewed within FRESH_MS.
    const list = (await this.get(path, 'application/json').catch(() => undefined)) as
      { items?: (Annotated & { metadata?: { labels?: Record<string, string> } })[] } | undefined;
    const now = this.mono();
    const items = list?.items ?? [];
    const keyOf = (l: Annotated) => l.metadata?.name ?? '';
    if (list) this.renewals.keep(new Set(items.map(keyOf)));
    const reports = items.flatMap((l) => {
      const module = l.metadata?.labels?.[LABELS.module];
      const renewed = l.spec?.renewTime ? this.renewals.observe(keyOf(l), renewalMarker(l.spec)) : Number.NEGATIVE_INFINITY;
      const report = parseControlPlaneReport(l.metadata?.annotations?.[CONTROL_PLANE_ANNOTATIONS.report]);
      return module && report && now - renewed <= FRESH_MS ? [{ module, report }] : [];
    });
    return clusterView(reports, this.o.module);
  }
}
