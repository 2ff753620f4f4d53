import type { BoxSpec } from '../spec/schema.js';
import { majorityOf } from '../base/majority.js';
import { initialServers, rankServerCandidates } from './control-plane.js';
import { planFindings } from './findings.js';
import type { ApiAccess, ControlPlanePlan, Plan } from './model.js';
import { compile, place } from './placement.js';
import { evaluateScenario, failureSets, type ServerModel } from './scenarios.js';

/**
 * The what-if analysis of a validated box spec: control plane, initial placement, every single
 * and pair module failure, and the findings drawn from them. Pure: no I/O, same spec, same plan.
 */
export function planBox(box: BoxSpec): Plan {
  const model = compile(box);
  const index = new Map(model.moduleNames.map((n, i) => [n, i]));
  const servers = initialServers(box).map((m) => m.name);
  const promotable = rankServerCandidates(box, new Set(servers)).map((m) => m.name);
  const quorum = majorityOf(servers.length);
  const controlPlane: ControlPlanePlan = {
    servers,
    quorum,
    // Failures of non-servers never cost quorum, so the worst case is that every failure hits a server.
    failuresTolerated: servers.length - quorum,
    promotable,
    apiAccess: apiAccess(box, servers),
  };
  const serverModel: ServerModel = {
    servers: servers.map((n) => index.get(n)!),
    quorum,
    promotable: promotable.map((n) => index.get(n)!),
  };

  const n = model.moduleNames.length;
  const serverFlags = new Uint8Array(n);
  for (const m of serverModel.servers) serverFlags[m] = 1;
  const initial = place(model, { alive: new Uint8Array(n).fill(1), server: serverFlags }, { detail: true });
  const replicas = initial.replicas!;
  const capable = initial.capable!;

  const scenarios = failureSets(n).map((failed) => evaluateScenario(model, serverModel, failed));
  const byName = <T>(perWorkload: T[][], f: (v: T) => string) => Object.fromEntries(model.workloads.map((w) => [w.spec.name, perWorkload[w.index]!.map(f)]));
  const moduleName = (m: number) => model.moduleNames[m]!;

  return {
    box: box.metadata.name,
    controlPlane,
    placements: byName(replicas, moduleName),
    capable: byName(capable, moduleName),
    unplaced: initial.unplaced,
    scenarios,
    findings: planFindings({ box, model, controlPlane, replicas, capable, initialUnplaced: initial.unplaced, scenarios }),
  };
}

/**
 * How agents reach the API: through the spec's API address (kube-vip on the servers), else
 * through K3s's client-side load balancer: each agent starts from its config's `server:` (the
 * first server) and then keeps every server the cluster lists, so it survives any server's loss
 * once it has joined; it needs the first server only for its first start.
 */
function apiAccess(box: BoxSpec, servers: string[]): ApiAccess {
  const vip = box.spec.controlPlane.apiAddress;
  if (vip) {
    return {
      via: 'kube-vip',
      joinAddress: vip,
      detail: `API address ${vip}, held by kube-vip on one server at a time (ARP, Lease election); agents and clients use it`,
    };
  }
  const first = box.spec.modules.find((m) => m.name === servers[0]);
  const address = first?.address ?? '';
  return {
    via: 'client-load-balancer',
    joinAddress: address,
    detail: `no API address: agents join through ${servers[0] ?? 'the first server'} (${address}), then K3s's client-side load balancer spreads them over every server`,
  };
}
