/**
 * What the controller's integration tests share: the fixture, agent views written through the
 * real API (the agents' contract: Lease `edgebox-system/agent-<module>` with the peer-view
 * annotation, renewed every second), a kubeconfig of the controller's own ServiceAccount (so its
 * rendered RBAC is what it runs with), and an in-process controller whose log is kept.
 */
import { join } from 'node:path';
import { ApiException, CoordinationV1Api, CoreV1Api, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { leaseWithView } from '../../src/agent/heartbeat/lease-publisher.js';
import { applyBox } from '../../src/apply/apply.js';
import { Cluster } from '../../src/apply/cluster.js';
import { startController, type RunningController } from '../../src/controller/controller.js';
import { powerDrivers } from '../../src/power/drivers.js';
import { CONTROLLER_NAME } from '../../src/render/controller.js';
import { loadSpec } from '../../src/spec/load.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { ROOT } from './apply-helpers.js';
import type { Box } from './harness.js';
import { SYSTEM_NAMESPACE, agentLeaseName } from '../../src/contract/leases.js';
import type { PeerView } from '../../src/contract/peer-view.js';

export const SPEC = join(ROOT, 'test/fixtures/controller-4.yaml');
export const NS = 'controller-cell';
export const MODULES = ['c1', 'c2', 'c3', 'c4'];

export async function fixture(): Promise<BoxSpec> {
  return (await loadSpec(SPEC)).box;
}

/** `edgebox apply` of the fixture (CRD, the EdgeBox object, RBAC, controller Deployment, workloads). */
export async function applyFixture(box: Box, spec: BoxSpec): Promise<void> {
  await applyBox({ box: spec, cluster: new Cluster(box.kc) });
}

/** A kubeconfig that authenticates as the controller's ServiceAccount (a fresh token from the TokenRequest API). */
export async function serviceAccountKubeConfig(admin: KubeConfig): Promise<KubeConfig> {
  const core = admin.makeApiClient(CoreV1Api);
  const req = await core.createNamespacedServiceAccountToken({
    name: CONTROLLER_NAME,
    namespace: SYSTEM_NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: 'box' }],
    users: [{ name: CONTROLLER_NAME, token: req.status!.token }],
    contexts: [{ name: 'sa', cluster: 'box', user: CONTROLLER_NAME }],
    currentContext: 'sa',
  });
  return kc;
}

export interface TestController {
  running: RunningController;
  logs: { level: string; msg: string; [k: string]: unknown }[];
}

export async function runController(kc: KubeConfig, spec: BoxSpec, o: { id: string; localDir: string }): Promise<TestController> {
  const logs: TestController['logs'] = [];
  const drivers = await powerDrivers(
    spec.spec.modules.flatMap((m) => (m.power ? [m.power] : [])),
    { localDir: o.localDir },
  );
  const running = await startController({
    kc,
    box: spec,
    id: o.id,
    log: (level, msg, fields = {}) => logs.push({ level, msg, ...fields }),
    ...(drivers ? { drivers } : {}),
    metrics: { host: '127.0.0.1', port: 0 },
  });
  return { running, logs };
}

/**
 * Agent views as the agents publish them: one Lease per module, renewed every 500 ms (the
 * agents renew every second) for as long as the module has a view here.
 */
export class AgentViews {
  private readonly api: CoordinationV1Api;
  private readonly views = new Map<string, PeerView>();
  private readonly cached = new Map<string, V1Lease>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    kc: KubeConfig,
    private readonly box: string,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
  }

  /** Sets a module's view and writes it at once. */
  async set(module: string, view: PeerView): Promise<void> {
    this.views.set(module, view);
    await this.flush();
  }

  /** The module's agent stops renewing (its view goes stale after 3 s). */
  silence(module: string): void {
    this.views.delete(module);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), 500);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
  }

  private flush(): Promise<void> {
    this.writing = this.writing
      .then(async () => {
        for (const [module, view] of this.views) await this.write(module, view);
      })
      .catch(() => undefined);
    return this.writing;
  }

  private async write(module: string, view: PeerView): Promise<void> {
    const name = agentLeaseName(module);
    const current =
      this.cached.get(module) ??
      (await this.api.readNamespacedLease({ name, namespace: SYSTEM_NAMESPACE }).catch((e: unknown) => {
        if (e instanceof ApiException && e.code === 404) return undefined;
        throw e;
      }));
    const body = leaseWithView(current ? JSON.parse(JSON.stringify(current)) : undefined, { box: this.box, module, view, wallNow: Date.now() }) as V1Lease;
    try {
      const written = current
        ? await this.api.replaceNamespacedLease({ name, namespace: SYSTEM_NAMESPACE, body })
        : await this.api.createNamespacedLease({ namespace: SYSTEM_NAMESPACE, body });
      this.cached.set(module, written);
    } catch (e) {
      this.cached.delete(module);
      throw e;
    }
  }
}

/** Every module's view of its peers: all reachable, last heard just now. */
export function allReachable(module: string, now = Date.now()): PeerView {
  return Object.fromEntries(
    MODULES.filter((m) => m !== module).map((m) => [m, { reachable: true, lastSeen: new Date(now - 50).toISOString(), suspicion: 0.25 }]),
  );
}

/** `module`'s view with `peer` unreachable since `lastSeen`. */
export function withUnreachable(module: string, peer: string, lastSeen: number): PeerView {
  return { ...allReachable(module), [peer]: { reachable: false, lastSeen: new Date(lastSeen).toISOString(), suspicion: 9 } };
}

export async function nodeLeaseRenewTime(kc: KubeConfig, node: string): Promise<number> {
  const l = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: node, namespace: 'kube-node-lease' });
  return new Date(l.spec!.renewTime as unknown as string).getTime();
}
