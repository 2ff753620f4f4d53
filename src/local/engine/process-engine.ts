import { START_TIMEOUT_MS } from '../launch.js';
import { isRunning, stopProcesses, type ProcessRef } from '../processes.js';
import { seconds, timed } from '../progress.js';
import { bootstrapCluster } from '../process-plan.js';
import { awaitApiserverReady, awaitEtcdLeader, createProcessDriver, hasMemberData, launchApiserver, launchEtcd } from '../process-driver.js';
import { memberAddresses, readServerRecord, serverLayout } from '../server-layout.js';
import type { LocalEngine } from './engine.js';

async function stillRunning<T extends ProcessRef>(ps: readonly T[]): Promise<T[]> {
  const out: T[] = [];
  for (const p of ps) if (await isRunning(p.pid, p.bin, p.script)) out.push(p);
  return out;
}

/**
 * The default engine: upstream etcd + kube-apiserver per server module on its 127.0.1.N (the
 * `process` role driver's processes, src/local/process-driver.ts), kube-controller-manager and
 * kube-scheduler once for the box.
 */
export const processEngine: LocalEngine = {
  name: 'process',
  binaries: ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'],
  components: ['kube-controller-manager', 'kube-scheduler', 'kwok'],
  // Its binaries are the toolchain's, which `up` checks for every engine.
  requireSetup: async () => {},
  prepare: async () => {},

  /**
   * The initial servers' etcd members (one cluster, started together) and then their API servers,
   * through the same code the agents' `process` role driver runs later.
   */
  async startServers(state, servers, progress) {
    const layouts = servers.map((m) => serverLayout(state, m));
    const cluster = bootstrapCluster(layouts);
    await timed(progress, `starting ${servers.length} etcd member(s)`, async () => {
      const procs = await Promise.all(layouts.map((l) => launchEtcd(state.dir, l, { initialCluster: cluster, state: 'new' })));
      await Promise.all(layouts.map((l, i) => awaitEtcdLeader(l, procs[i]!, START_TIMEOUT_MS.etcd)));
    });
    const { ms } = await timed(progress, `starting ${servers.length} kube-apiserver(s)`, async () => {
      const procs = await Promise.all(layouts.map((l) => launchApiserver(state.dir, l)));
      await Promise.all(layouts.map((l, i) => awaitApiserverReady(l, procs[i]!, START_TIMEOUT_MS['kube-apiserver'])));
    });
    progress(`  servers up: ${layouts.map((l) => `${l.module} (${l.address})`).join(', ')} in ${seconds(ms)}`);
  },

  roleDriver: 'process',
  async boot(state, module) {
    if (state.agents?.length) return;
    if (module in memberAddresses(state) && (await hasMemberData(serverLayout(state, module)))) await createProcessDriver({ dir: state.dir, module }).restart();
  },

  apiBackends: (state) => Object.values(memberAddresses(state)).map((a) => `${a}:${state.ports.server.apiserver}`),
  serverNodeLabels: () => ({}),

  /** Every module's API server and, once those are gone, its etcd member, wherever the role drivers started them. */
  async stopServers(state, graceMs) {
    const records = await Promise.all(
      Object.keys(memberAddresses(state)).map(async (module) => ({ module, record: await readServerRecord(state.dir, module) })),
    );
    const apiservers = await stillRunning(records.flatMap(({ module, record }) => (record.apiserver ? [{ ...record.apiserver, module }] : [])));
    await stopProcesses(apiservers, graceMs);
    // After the API servers: etcd must outlive their shutdown.
    const members = await stillRunning(records.flatMap(({ module, record }) => (record.etcd ? [{ ...record.etcd, module }] : [])));
    // Short grace: on SIGTERM an etcd leader first tries to hand its leadership to a peer, which is
    // stopping too, and waits out election timeouts (7 s measured for three); the data is kept anyway.
    await stopProcesses(members, Math.min(graceMs ?? 1000, 1000));
    return [...apiservers.map((a) => `kube-apiserver ${a.module}`), ...members.map((m) => `etcd ${m.module}`)];
  },
};
