import type { Log } from '../../base/log.js';
import type { PeerView } from '../../contract/peer-view.js';
import type { ControlPlaneSummary } from '../quorum/summary.js';
import type { AgentConfig } from './config.js';
import type { AgentMetrics } from './metrics.js';
import { PeerTracker, type Transition } from './peer-tracker.js';
import { peerView } from './peer-view.js';
import { openTransport } from './transport.js';
import { HeartbeatVerifier } from './verify.js';
import { encodeHeartbeat } from './wire.js';

export interface HeartbeatsOptions {
  cfg: Pick<AgentConfig, 'box' | 'module' | 'peers' | 'address' | 'port' | 'intervalMs' | 'missedHeartbeats'>;
  /** The box secret (HMAC key). */
  secret: Buffer;
  /** This agent's incarnation (src/agent/heartbeat/incarnation.ts). */
  incarnation: number;
  log: Log;
  metrics: AgentMetrics;
  /** Monotonic ms: the detector's clock. */
  mono: () => number;
  /** Wall-clock ms: timestamps, and the rounds' alignment. */
  wall: () => number;
  /** What each heartbeat says of this module's control plane (src/agent/quorum), if anything. */
  summary?: () => ControlPlaneSummary | undefined;
  /** An accepted heartbeat, with what it says of its sender's control plane. */
  onHeard?: (from: string, cp: ControlPlaneSummary | undefined) => void;
  /** A peer turned reachable or unreachable. */
  onTransition?: (t: Transition) => void;
}

export interface Heartbeats {
  /** The view of the peers now (transitions due by now are made first). */
  view(): PeerView;
  /** The peers heard within the detection window, this module not counted. */
  reachablePeers(): number;
  close(): Promise<void>;
}

/** A repeated problem (a flood of forged datagrams, a dead socket) is logged once per this window per key. */
const LOG_REPEAT_MS = 60_000;

/**
 * The heartbeat loop of one agent: sends a round to every peer every interval, accepts its peers'
 * heartbeats (src/agent/heartbeat/verify.ts) and turns silence into "unreachable" on the monotonic
 * clock. Every timer is unref'd: the socket keeps the process alive, and `close()` ends it.
 */
export async function startHeartbeats(o: HeartbeatsOptions): Promise<Heartbeats> {
  const { cfg, log, metrics, mono, wall } = o;
  const tracker = new PeerTracker({
    peers: cfg.peers.map((p) => p.name),
    intervalMs: cfg.intervalMs,
    missedHeartbeats: cfg.missedHeartbeats,
    startedAt: mono(),
  });
  const addresses = new Map(cfg.peers.map((p) => [p.name, p.address]));
  const verifier = new HeartbeatVerifier({
    box: cfg.box,
    self: cfg.module,
    incarnation: o.incarnation,
    secret: o.secret,
    addressOf: (m) => addresses.get(m),
    // Longer than a detection window: a peer that restarts is silent at least that long.
    adoptLowerAfterMs: 2 * cfg.intervalMs * cfg.missedHeartbeats,
  });

  const lastLogged = new Map<string, number>();
  const logOnce = (key: string, level: 'warn' | 'error', msg: string, fields: Record<string, unknown>) => {
    const now = mono();
    const last = lastLogged.get(key);
    if (last !== undefined && now - last < LOG_REPEAT_MS) return;
    // Forged datagrams from many sources must not grow this without bound.
    if (lastLogged.size > 1000) lastLogged.clear();
    lastLogged.set(key, now);
    log(level, msg, fields);
  };

  const snapshot = (): PeerView => {
    const now = mono();
    return peerView(tracker.states(now), now, wall());
  };
  const onTransition = (t: Transition) => {
    metrics.transitions++;
    log(t.reachable ? 'info' : 'warn', t.reachable ? 'peer reachable' : 'peer unreachable', { peer: t.peer, lastSeen: snapshot()[t.peer]?.lastSeen ?? null });
    o.onTransition?.(t);
  };
  const evaluate = () => {
    for (const t of tracker.tick(mono())) onTransition(t);
  };
  const view = (): PeerView => {
    evaluate();
    return snapshot();
  };

  // One timer for the earliest moment a peer can turn unreachable. Heartbeats only push
  // deadlines later, so they leave an armed timer alone: when it fires early it just re-arms.
  let check: NodeJS.Timeout | undefined;
  const armCheck = () => {
    clearTimeout(check);
    check = undefined;
    const due = tracker.nextDeadline();
    if (due === null) return;
    check = setTimeout(
      () => {
        check = undefined;
        evaluate();
        armCheck();
      },
      Math.max(0, Math.ceil(due - mono())) + 1,
    );
    check.unref();
  };

  const transport = await openTransport({
    address: cfg.address,
    port: cfg.port,
    onDatagram: (datagram, source) => {
      const verdict = verifier.accept(datagram, source, mono());
      if (!verdict.ok) {
        metrics.rejected[verdict.reason]++;
        logOnce(`reject:${verdict.reason}:${source}`, 'warn', 'heartbeat rejected', { reason: verdict.reason, source });
        return;
      }
      metrics.heartbeatsAccepted++;
      o.onHeard?.(verdict.heartbeat.from, verdict.heartbeat.cp);
      const t = tracker.heard(verdict.heartbeat.from, mono());
      if (t) onTransition(t);
      if (t || check === undefined) armCheck();
    },
    onError: (e) => {
      metrics.sendErrors++;
      logOnce(`socket:${(e as NodeJS.ErrnoException).code ?? e.message}`, 'warn', 'heartbeat socket error', { error: e.message });
    },
  });

  let seq = 0;
  const sendRound = () => {
    const cp = o.summary?.();
    const base = { box: cfg.box, from: cfg.module, inc: o.incarnation, seq: ++seq, sentAt: new Date(wall()).toISOString(), ...(cp ? { cp } : {}) };
    // One datagram per peer: each echoes that peer's incarnation.
    for (const p of cfg.peers) {
      transport.send(encodeHeartbeat({ ...base, echo: verifier.echoFor(p.name) }, o.secret), p.address, cfg.port);
      metrics.heartbeatsSent++;
    }
  };
  // Rounds start on multiples of the interval on the wall clock. Where the modules' clocks agree
  // (NTP on a box's LAN; one host in a local box) every agent sends at about the same moment, so
  // each takes its peers' heartbeats in one burst, one wake-up per round instead of one per peer:
  // most of an idle agent's CPU. Nothing depends on it: skewed clocks only spread the bursts out.
  let sender: NodeJS.Timeout | undefined;
  const scheduleRound = () => {
    const untilBoundary = cfg.intervalMs - (wall() % cfg.intervalMs);
    // A timer that fires a hair before the boundary must not send twice in a row.
    sender = setTimeout(
      () => {
        sendRound();
        scheduleRound();
      },
      untilBoundary < cfg.intervalMs / 4 ? untilBoundary + cfg.intervalMs : untilBoundary,
    );
    sender.unref();
  };
  sendRound();
  scheduleRound();
  armCheck();

  return {
    view,
    reachablePeers: () => Object.values(view()).filter((p) => p.reachable).length,
    async close() {
      clearTimeout(sender);
      clearTimeout(check);
      await transport.close();
    },
  };
}
