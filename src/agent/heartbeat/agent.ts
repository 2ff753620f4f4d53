import { performance } from 'node:perf_hooks';
import type { EdgeboxError } from '../../diagnostics/diagnostic.js';
import { ApiClient } from '../api/client.js';
import type { ApiTarget } from '../api/kubeconfig.js';
import type { AgentConfig } from './config.js';
import { startEndpoint } from './http-endpoint.js';
import { LeasePublisher } from './lease-publisher.js';
import type { Log } from './log.js';
import { AgentMetrics, formatMetrics } from './metrics.js';
import { PeerTracker, type Transition } from './peer-tracker.js';
import { peerView, type PeerView } from './peer-view.js';
import { openTransport } from './transport.js';
import { HeartbeatVerifier } from './verify.js';
import { encodeHeartbeat, sequenceStart } from './wire.js';
import type { RuntimeDriver } from '../self-fence/runtime.js';
import type { RoleDriver } from '../role/driver.js';
import { RoleLoop } from '../role/role-loop.js';
import { QUORUM_RECOVERY_ANNOTATION, QuorumRecovery } from '../quorum/recovery.js';
import type { PowerDriver, PowerSpec } from '../../controller/power/driver.js';
import { CONTROL_PLANE_ANNOTATIONS } from '../../controller/guardian/names.js';
import { SelfFence } from '../self-fence/self-fence.js';
import { DEFAULT_PERIPHERAL_TIMINGS, type PeripheralTimings } from '../../peripherals/names.js';
import type { DeviceRunner } from '../grant/device.js';
import type { Append } from '../grant/history-file.js';
import { GrantService } from '../grant/service.js';

export interface AgentDeps {
  log: Log;
  /** The box secret (HMAC key). */
  secret: Buffer;
  /** Where to publish the view; without it the agent only heartbeats and serves HTTP. */
  api?: ApiTarget;
  /** Monotonic ms for the detector. Default: performance.now. */
  monoNow?: () => number;
  /** Wall-clock ms for timestamps. Default: Date.now. */
  wallNow?: () => number;
  /**
   * How the module stops its singletons when it fences itself (needs `api`: without one the agent
   * cannot tell that it is cut off from it). Default: none, the agent decides and reports only.
   */
  runtime?: RuntimeDriver;
  /** The grant API of the module's exclusive peripherals (needs `api`): where grants are logged and how devices are acted on. */
  grants?: { history: Append; runDevice: DeviceRunner; timings?: PeripheralTimings };
  /**
   * How the module changes between agent and server (needs `api`): the role loop acts on the
   * guardian's annotations through it and reports the module's member on the agent Lease.
   * Default: none, the module keeps its role.
   */
  roleDriver?: RoleDriver;
  /**
   * How this agent powers a missing voter off when the control plane lost its quorum
   * (src/agent/quorum; needs `roleDriver`). Default: none, it fences nothing itself.
   */
  powerDriver?: (p: PowerSpec) => PowerDriver;
}

export interface RunningAgent {
  /** The HTTP port actually bound (useful with --http-port 0). */
  httpPort: number;
  view(): PeerView;
  /** Stops sending, receiving, publishing and serving; the process may then exit. */
  stop(): Promise<void>;
}

/** A repeated problem (a flood of forged datagrams, a dead API) is logged once per this window per key. */
const LOG_REPEAT_MS = 60_000;

/**
 * One module's agent: heartbeats every peer every interval, tracks which peers it hears from,
 * publishes that view on its Lease (at once on a change, else every second) and on HTTP.
 * Every timer is unref'd: the socket and the HTTP server keep the process alive, and closing
 * them in `stop()` is all an orderly exit needs.
 */
export async function startAgent(cfg: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const { log } = deps;
  const mono = deps.monoNow ?? (() => performance.now());
  const wall = deps.wallNow ?? Date.now;
  const startedMono = mono();
  const metrics = new AgentMetrics();
  const tracker = new PeerTracker({ peers: cfg.peers.map((p) => p.name), intervalMs: cfg.intervalMs, missedHeartbeats: cfg.missedHeartbeats, startedAt: startedMono });
  const addresses = new Map(cfg.peers.map((p) => [p.name, p.address]));
  const verifier = new HeartbeatVerifier({ box: cfg.box, self: cfg.module, secret: deps.secret, addressOf: (m) => addresses.get(m) });

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

  let publisher: LeasePublisher | undefined;
  let roleLoop: RoleLoop | undefined;
  let quorum: QuorumRecovery | undefined;
  const onTransition = (t: Transition) => {
    metrics.transitions++;
    log(t.reachable ? 'info' : 'warn', t.reachable ? 'peer reachable' : 'peer unreachable', { peer: t.peer, lastSeen: snapshot()[t.peer]?.lastSeen ?? null });
    publisher?.poke();
  };
  const evaluate = () => {
    for (const t of tracker.tick(mono())) onTransition(t);
  };
  const snapshot = (): PeerView => {
    const now = mono();
    return peerView(tracker.states(now), now, wall());
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
    check = setTimeout(() => {
      check = undefined;
      evaluate();
      armCheck();
    }, Math.max(0, Math.ceil(due - mono())) + 1);
    check.unref();
  };

  const transport = await openTransport({
    address: cfg.address,
    port: cfg.port,
    onDatagram: (datagram, source) => {
      const verdict = verifier.accept(datagram, source);
      if (!verdict.ok) {
        metrics.rejected[verdict.reason]++;
        logOnce(`reject:${verdict.reason}:${source}`, 'warn', 'heartbeat rejected', { reason: verdict.reason, source });
        return;
      }
      metrics.heartbeatsAccepted++;
      quorum?.heard(verdict.heartbeat.from, verdict.heartbeat.cp);
      const t = tracker.heard(verdict.heartbeat.from, mono());
      if (t) onTransition(t);
      if (t || check === undefined) armCheck();
    },
    onError: (e) => {
      metrics.sendErrors++;
      logOnce(`socket:${(e as NodeJS.ErrnoException).code ?? e.message}`, 'warn', 'heartbeat socket error', { error: e.message });
    },
  });

  let seq = sequenceStart(wall());
  const sendRound = () => {
    const datagram = encodeHeartbeat({
      box: cfg.box, from: cfg.module, seq: ++seq, sentAt: new Date(wall()).toISOString(), ...(quorum ? { cp: quorum.summary() } : {}),
    }, deps.secret);
    for (const p of cfg.peers) {
      transport.send(datagram, p.address, cfg.port);
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
    sender = setTimeout(() => {
      sendRound();
      scheduleRound();
    }, untilBoundary < cfg.intervalMs / 4 ? untilBoundary + cfg.intervalMs : untilBoundary);
    sender.unref();
  };
  sendRound();
  scheduleRound();
  armCheck();

  let client: ApiClient | undefined;
  if (deps.api) {
    client = new ApiClient(deps.api, cfg.apiLocalAddress ? { localAddress: cfg.apiLocalAddress } : {});
    let failing = false;
    publisher = new LeasePublisher({
      client, box: cfg.box, module: cfg.module, view, wallNow: wall, monoNow: mono,
      annotations: (): Record<string, string> => {
        const report = roleLoop?.latest();
        return {
          ...(report ? { [CONTROL_PLANE_ANNOTATIONS.report]: JSON.stringify(report) } : {}),
          ...(quorum ? { [QUORUM_RECOVERY_ANNOTATION]: JSON.stringify(quorum.status()) } : {}),
        };
      },
      onWrite: (ok: boolean, error?: EdgeboxError) => {
        if (ok) {
          metrics.leaseWrites++;
          if (failing) log('info', 'api reachable again: view published', { server: deps.api?.server });
          failing = false;
          return;
        }
        metrics.leaseWriteFailures++;
        const d = error?.diagnostics[0];
        if (!failing) log('warn', 'cannot publish the view; heartbeating goes on, retrying with backoff', { code: d?.code, error: d?.message, hint: d?.hint });
        failing = true;
      },
    });
    publisher.start();
  }

  // The module's control-plane role: acts on the guardian's annotations through the driver and
  // reports its member on the Lease; a changed role or health is published at once.
  if (client && deps.roleDriver) {
    let lastShape = '';
    roleLoop = new RoleLoop({
      driver: deps.roleDriver, client, box: cfg.box, module: cfg.module, log,
      // A former voter never starts its stale member while another module recovers the quorum.
      mayStartMember: () => quorum?.mayStartMember() ?? { ok: true },
      onReport: ({ raftIndex: _i, revision: _r, ...shape }) => {
        const text = JSON.stringify(shape);
        if (text !== lastShape) publisher?.poke();
        lastShape = text;
      },
    });
    roleLoop.start();
    // Quorum loss: with the API gone the agents recover the control plane over their heartbeats.
    const loop = roleLoop;
    quorum = new QuorumRecovery({
      self: cfg.module, modules: [cfg.module, ...cfg.peers.map((p) => p.name)], ...cfg.quorum,
      ...(deps.powerDriver ? { powerDriver: deps.powerDriver } : {}),
      driver: deps.roleDriver, report: () => loop.latest() ?? null,
      peers: () => Object.fromEntries(Object.entries(view()).map(([peer, v]) => [peer, { reachable: v.reachable, silentMs: v.suspicion * cfg.intervalMs }])),
      log, monoNow: mono, wallNow: wall,
    });
    quorum.start();
  }

  // Self-fencing: a module cut off from a majority of its peers and from the API stops its singletons.
  const selfFence = publisher && deps.runtime
    ? new SelfFence({
      // Every 500 ms at most: well inside the 2 s margin the controller adds to the bound, and each
      // check is one more wake-up of an otherwise idle agent.
      modules: cfg.peers.length + 1, boundMs: cfg.selfFenceMs, checkEveryMs: Math.max(cfg.intervalMs, 500), runtime: deps.runtime,
      reachablePeers: () => Object.values(view()).filter((p) => p.reachable).length,
      lastApiWrite: () => publisher?.lastWriteStartedMono ?? null,
      startedAt: startedMono, monoNow: mono, wallNow: wall, log,
      onFence: () => { metrics.selfFences++; },
      onFailure: () => { metrics.selfFenceFailures++; },
    })
    : undefined;
  await selfFence?.start();

  // Exclusive peripherals: this module grants one only while it holds its ownership Lease.
  const grants = client && deps.grants && cfg.peripherals.length > 0
    ? new GrantService({
      module: cfg.module, peripherals: cfg.peripherals, client, timings: deps.grants.timings ?? DEFAULT_PERIPHERAL_TIMINGS,
      history: deps.grants.history, runDevice: deps.grants.runDevice, log, mono, wall,
    })
    : undefined;
  grants?.start();

  /** Every timer, loop and socket but the HTTP endpoint: on stop, and when start-up fails. */
  const stopLoops = async () => {
    clearTimeout(sender);
    clearTimeout(check);
    publisher?.stop();
    roleLoop?.stop();
    quorum?.stop();
    selfFence?.stop();
    grants?.stop();
    client?.close();
    await transport.close();
  };

  const endpoint = await startEndpoint({
    address: cfg.http.address,
    port: cfg.http.port,
    health: () => ({
      module: cfg.module,
      box: cfg.box,
      uptime: Math.round((mono() - startedMono) / 100) / 10,
      apiReachable: publisher?.apiReachable ?? false,
      lastLeaseWrite: publisher?.lastWrite ? new Date(publisher.lastWrite).toISOString() : null,
      selfFenced: selfFence?.report ?? null,
      controlPlane: roleLoop?.latest() ?? null,
      quorumRecovery: quorum?.status() ?? null,
    }),
    peers: view,
    metrics: () => formatMetrics(metrics, view(), publisher?.apiReachable ?? false, selfFence?.report != null),
    ...(grants ? { handle: (req, res) => grants.handle(req, res) } : {}),
  }).catch(async (e: unknown) => {
    // Nothing may stay bound when start-up fails half way.
    await stopLoops();
    throw e;
  });

  log('info', 'agent started', {
    address: cfg.address, port: cfg.port, http: `${cfg.http.address}:${endpoint.port}`,
    peers: cfg.peers, intervalMs: cfg.intervalMs, missedHeartbeats: cfg.missedHeartbeats,
    api: deps.api?.server ?? null,
    selfFence: selfFence ? { boundMs: cfg.selfFenceMs, runtime: deps.runtime?.name } : null,
  });

  return {
    httpPort: endpoint.port,
    view,
    async stop() {
      await Promise.all([stopLoops(), endpoint.close()]);
      log('info', 'agent stopped');
    },
  };
}
