import { performance } from 'node:perf_hooks';
import type { Log } from '../base/log.js';
import { CONTROL_PLANE_ANNOTATIONS, QUORUM_RECOVERY_ANNOTATION } from '../contract/control-plane.js';
import type { PeerView } from '../contract/peer-view.js';
import { DEFAULT_PERIPHERAL_TIMINGS, type PeripheralTimings } from '../contract/peripherals.js';
import type { RoleDriver } from '../contract/role-driver.js';
import type { EdgeboxError } from '../diagnostics/diagnostic.js';
import type { PowerDriver, PowerSpec } from '../power/driver.js';
import { ApiClient } from './api/client.js';
import type { ApiTarget } from './api/kubeconfig.js';
import type { DeviceRunner } from './grant/device.js';
import type { Append } from './grant/history-file.js';
import { GrantService } from './grant/service.js';
import type { AgentConfig } from './heartbeat/config.js';
import { startHeartbeats } from './heartbeat/heartbeats.js';
import { startEndpoint } from './heartbeat/http-endpoint.js';
import { LeasePublisher } from './heartbeat/lease-publisher.js';
import { AgentMetrics, formatMetrics } from './heartbeat/metrics.js';
import { startMetricsEndpoint } from './heartbeat/metrics-endpoint.js';
import { metricsToken } from './heartbeat/metrics-token.js';
import { QuorumRecovery } from './quorum/recovery-loop.js';
import { RoleLoop } from './role/role-loop.js';
import type { RuntimeDriver } from './self-fence/runtime.js';
import { SelfFence } from './self-fence/self-fence-loop.js';

export interface AgentDeps {
  log: Log;
  /** The box secret (HMAC key). */
  secret: Buffer;
  /** This start's incarnation (src/agent/heartbeat/incarnation.ts): higher than every earlier start's. */
  incarnation: number;
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

/**
 * One module's agent, the composition root of src/agent: wires the heartbeat loop (which peers
 * it hears), the Lease publisher (that view, at once on a change, else every second), the role
 * loop and quorum-loss recovery (its control-plane member), self-fencing, the grant API of its
 * exclusive peripherals, and the HTTP endpoint. Every timer is unref'd: the socket and the HTTP
 * server keep the process alive, and closing them in `stop()` is all an orderly exit needs.
 */
export async function startAgent(cfg: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const { log } = deps;
  const mono = deps.monoNow ?? (() => performance.now());
  const wall = deps.wallNow ?? Date.now;
  const startedMono = mono();
  const metrics = new AgentMetrics();

  let publisher: LeasePublisher | undefined;
  let roleLoop: RoleLoop | undefined;
  let quorum: QuorumRecovery | undefined;
  const heartbeats = await startHeartbeats({
    cfg,
    secret: deps.secret,
    incarnation: deps.incarnation,
    log,
    metrics,
    mono,
    wall,
    summary: () => quorum?.summary(),
    onHeard: (from, cp) => quorum?.heard(from, cp),
    onTransition: () => publisher?.poke(),
  });
  const view = heartbeats.view;

  let client: ApiClient | undefined;
  if (deps.api) {
    client = new ApiClient(deps.api, cfg.apiLocalAddress ? { localAddress: cfg.apiLocalAddress } : {});
    let failing = false;
    publisher = new LeasePublisher({
      client,
      box: cfg.box,
      module: cfg.module,
      view,
      wallNow: wall,
      monoNow: mono,
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
      driver: deps.roleDriver,
      client,
      box: cfg.box,
      module: cfg.module,
      log,
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
      self: cfg.module,
      modules: [cfg.module, ...cfg.peers.map((p) => p.name)],
      ...cfg.quorum,
      ...(deps.powerDriver ? { powerDriver: deps.powerDriver } : {}),
      driver: deps.roleDriver,
      report: () => loop.latest() ?? null,
      peers: () => Object.fromEntries(Object.entries(view()).map(([peer, v]) => [peer, { reachable: v.reachable, silentMs: v.suspicion * cfg.intervalMs }])),
      log,
      monoNow: mono,
      wallNow: wall,
    });
    quorum.start();
  }

  // Self-fencing: a module cut off from a majority of its peers and from the API stops its singletons.
  const selfFence =
    publisher && deps.runtime
      ? new SelfFence({
          // Every 500 ms at most: well inside the 2 s margin the controller adds to the bound, and each
          // check is one more wake-up of an otherwise idle agent.
          modules: cfg.peers.length + 1,
          boundMs: cfg.selfFenceMs,
          checkEveryMs: Math.max(cfg.intervalMs, 500),
          runtime: deps.runtime,
          reachablePeers: heartbeats.reachablePeers,
          lastApiWrite: () => publisher?.lastWriteStartedMono ?? null,
          startedAt: startedMono,
          monoNow: mono,
          wallNow: wall,
          log,
          onFence: () => {
            metrics.selfFences++;
          },
          onFailure: () => {
            metrics.selfFenceFailures++;
          },
        })
      : undefined;
  await selfFence?.start();

  // Exclusive peripherals: this module grants one only while it holds its ownership Lease.
  const grants =
    client && deps.grants && cfg.peripherals.length > 0
      ? new GrantService({
          module: cfg.module,
          peripherals: cfg.peripherals,
          client,
          timings: deps.grants.timings ?? DEFAULT_PERIPHERAL_TIMINGS,
          history: deps.grants.history,
          runDevice: deps.grants.runDevice,
          log,
          mono,
          wall,
        })
      : undefined;
  grants?.start();

  /** Every timer, loop and socket but the HTTP endpoint: on stop, and when start-up fails. */
  const stopLoops = async () => {
    publisher?.stop();
    roleLoop?.stop();
    quorum?.stop();
    selfFence?.stop();
    grants?.stop();
    client?.close();
    await heartbeats.close();
  };

  const metricsText = () => formatMetrics(metrics, view(), publisher?.apiReachable ?? false, (selfFence?.report ?? null) !== null);
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
    metrics: metricsText,
    ...(grants ? { handle: (req, res) => grants.handle(req, res) } : {}),
  }).catch(async (e: unknown) => {
    // Nothing may stay bound when start-up fails half way.
    await stopLoops();
    throw e;
  });
  const scrape = await startMetricsEndpoint({
    address: cfg.metrics.address,
    port: cfg.metrics.port,
    token: metricsToken(deps.secret),
    metrics: metricsText,
  }).catch(async (e: unknown) => {
    await Promise.all([stopLoops(), endpoint.close()]);
    throw e;
  });

  log('info', 'agent started', {
    address: cfg.address,
    port: cfg.port,
    http: `${cfg.http.address}:${endpoint.port}`,
    metrics: `${cfg.metrics.address}:${scrape.port}`,
    peers: cfg.peers,
    intervalMs: cfg.intervalMs,
    missedHeartbeats: cfg.missedHeartbeats,
    api: deps.api?.server ?? null,
    selfFence: selfFence ? { boundMs: cfg.selfFenceMs, runtime: deps.runtime?.name } : null,
  });

  return {
    httpPort: endpoint.port,
    view,
    async stop() {
      await Promise.all([stopLoops(), endpoint.close(), scrape.close()]);
      log('info', 'agent stopped');
    },
  };
}
