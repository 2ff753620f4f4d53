import type { MemberInfo } from '../../src/contract/role-driver.js';
import { type ObservedPod } from '../../src/controller/model.js';
import type { GuardianObserved, ModuleReport } from '../../src/controller/guardian/view.js';
import { parseSpec } from '../../src/spec/load.js';
import { NOW, T } from './controller-fixtures.js';
import { OUT_OF_SERVICE_TAINT } from '../../src/contract/taints.js';
import { FENCE_ANNOTATIONS } from '../../src/contract/fencing.js';

/** One module of a test world: what it is in etcd and whether it is alive. */
export interface WorldModule {
  name: string;
  /** Its etcd membership. */
  member?: 'voter' | 'learner' | undefined;
  /** Powered and heard by the others (default true). A dead module has a stale node Lease and no report. */
  alive?: boolean;
  /** Its member answers (default true). */
  etcdHealthy?: boolean;
  /** What its report says it runs as; default: server when a member, else agent. */
  role?: 'server' | 'agent' | undefined;
  /** May it serve (default true). */
  serverRole?: boolean;
  fenced?: boolean;
  annotations?: Record<string, string>;
  hardware?: string;
  power?: string;
}

export interface World {
  servers: number;
  modules: WorldModule[];
  pods?: ObservedPod[];
  workloads?: string;
  now?: number;
}

export const memberId = (name: string) => `id-${name}`;

export function observe(w: World): GuardianObserved {
  const mods = w.modules.map(
    (m) =>
      `    - { name: ${m.name}, hardware: ${m.hardware ?? 'rpi-cm4-4gb'}, address: 10.0.0.${w.modules.indexOf(m) + 1}${m.serverRole === false ? ', roles: [agent]' : ''}${m.power ? `, power: ${m.power}` : ''} }`,
  );
  const box = parseSpec(
    `
apiVersion: edgebox.dev/v1alpha1
kind: EdgeBox
metadata: { name: t }
spec:
  controlPlane: { servers: ${w.servers} }
  modules:
${mods.join('\n')}
${w.workloads ?? ''}
  failover: { heartbeatIntervalMs: 200, missedHeartbeats: 5, settleSeconds: 30, selfFenceSeconds: 3 }
`,
    'test.yaml',
  ).box;
  const now = w.now ?? NOW;
  const alive = (m: WorldModule) => m.alive !== false;
  const members: MemberInfo[] = w.modules
    .filter((m) => m.member !== undefined)
    .map((m) => ({
      id: memberId(m.name),
      name: m.name,
      peerURLs: [],
      clientURLs: [],
      learner: m.member === 'learner',
    }));
  const leader = w.modules.find((m) => m.member === 'voter' && alive(m) && m.etcdHealthy !== false)?.name;
  const reports: ModuleReport[] = w.modules.filter(alive).map((m) => {
    const serving = m.member !== undefined && m.etcdHealthy !== false;
    return {
      module: m.name,
      renewTime: now - 200,
      observedAt: now - 200,
      durationSeconds: 3,
      report: {
        role: m.role ?? (m.member ? 'server' : 'agent'),
        running: m.member !== undefined || m.role === 'server',
        healthy: serving,
        ...(m.member ? { memberId: memberId(m.name) } : {}),
        ...(serving ? { members, ...(leader ? { leader } : {}), raftIndex: 100 } : {}),
      },
    };
  });
  return {
    now,
    mono: now,
    since: now - 3_600_000,
    box,
    nodes: w.modules.map((m) => ({
      name: m.name,
      resourceVersion: `rv-${m.name}`,
      labels: {},
      annotations: {
        ...(m.fenced ? { [FENCE_ANNOTATIONS.fenceMethod]: 'power', [FENCE_ANNOTATIONS.fencedAt]: new Date(T(-900)).toISOString() } : {}),
        ...m.annotations,
      },
      taints: m.fenced ? [OUT_OF_SERVICE_TAINT] : [],
      ready: alive(m) ? 'True' : 'Unknown',
    })),
    nodeLeases: w.modules.map((m) => {
      const t = alive(m) ? now - 200 : now - 4500;
      return { node: m.name, renewTime: t, observedAt: t, durationSeconds: 2 };
    }),
    views: w.modules.filter(alive).map((m) => ({
      module: m.name,
      renewTime: now - 200,
      observedAt: now - 200,
      durationSeconds: 3,
      peers: Object.fromEntries(
        w.modules
          .filter((p) => p !== m)
          .map((p) => [
            p.name,
            alive(p) ? { reachable: true, lastSeen: now - 100, suspicion: 0.5 } : { reachable: false, lastSeen: now - 1500, suspicion: 7.5 },
          ]),
      ),
    })),
    pods: w.pods ?? [],
    reports,
  };
}

/** Three voters m1..m3 and agents m4, m5, all alive. */
export function threeServers(change: (m: WorldModule) => Partial<WorldModule> = () => ({})): World {
  const base: WorldModule[] = [
    { name: 'm1', member: 'voter' },
    { name: 'm2', member: 'voter' },
    { name: 'm3', member: 'voter' },
    { name: 'm4' },
    { name: 'm5' },
  ];
  return { servers: 3, modules: base.map((m) => ({ ...m, ...change(m) })) };
}
