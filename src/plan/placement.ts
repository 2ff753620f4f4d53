import { allocatable, MAX_PODS, type Resources } from '../catalog/reserve.js';
import { nodeTaints, placementTolerations, tolerates } from '../render/node-metadata.js';
import { hardwareOf, moduleCapabilities } from '../spec/derive.js';
import { cpuMillis, memoryBytes } from '../spec/quantity.js';
import type { BoxSpec, Criticality, WorkloadSpec } from '../spec/schema.js';
import type { UnplacedReason, UnplacedWorkload } from './model.js';

const CRITICALITY_RANK: Record<Criticality, number> = { critical: 0, standard: 1, 'best-effort': 2 };

/** A workload compiled to numbers and module indices, once per plan. */
export interface CompiledWorkload {
  index: number;
  spec: WorkloadSpec;
  cpu: number;
  mem: number;
  rank: number;
  /** A daemonset not bound to an exclusive peripheral: one pod per capable module. */
  perModule: boolean;
  /**
   * Modules whose capabilities, peripherals and taints admit it, ignoring size, in spec order.
   * Size depends on the module's role, which changes when a module is promoted.
   */
  eligible: number[];
  /** Modules with the capabilities and peripherals that its tolerations keep it off. */
  taintBlocked: number[];
  /** fitsEmpty[m]: bit 1 = its request fits an empty module m (eligible or taint-blocked) as agent, bit 2 = as server. */
  fitsEmpty: Uint8Array;
  /** Indices into PlacementModel.exclusive of the exclusive peripherals it uses. */
  exclusive: number[];
  /**
   * Where it prefers to own its exclusive peripherals: eligible modules that every workload
   * sharing those peripherals could also use (so the owner suits them all), in the attachedTo
   * order of its first exclusive peripheral (so the spec author's first choice wins).
   */
  ownerOrder: number[];
}

export interface PlacementModel {
  moduleNames: string[];
  /** Allocatable per module index, as agent and as server. */
  allocAgent: Resources[];
  allocServer: Resources[];
  workloads: CompiledWorkload[];
  exclusive: { name: string; attached: number[] }[];
}

const FITS_AGENT = 1;
const FITS_SERVER = 2;

/** Compiles the box once; every scenario then only does array arithmetic. */
export function compile(box: BoxSpec): PlacementModel {
  const modules = box.spec.modules;
  const moduleIndex = new Map(modules.map((m, i) => [m.name, i]));
  const caps = modules.map(moduleCapabilities);
  const taints = modules.map((m) => nodeTaints(box, m));
  const allocAgent = modules.map((m) => allocatable(hardwareOf(m), 'agent'));
  const allocServer = modules.map((m) => allocatable(hardwareOf(m), 'server'));
  const attached = new Map(box.spec.peripherals.map((p) => [p.name, new Set(p.attachedTo)]));
  const exclusive = box.spec.peripherals
    .filter((p) => p.exclusive)
    .map((p) => ({ name: p.name, attached: p.attachedTo.map((n) => moduleIndex.get(n)).filter((i): i is number => i !== undefined) }));
  const exclusiveIndex = new Map(exclusive.map((p, i) => [p.name, i]));

  const workloads: CompiledWorkload[] = box.spec.workloads.map((w, index) => {
    const tolerations = placementTolerations(box, w);
    const meetsRequirements = modules.map(
      (m, i) => w.requires.capabilities.every((c) => caps[i]!.has(c)) && w.peripherals.every((p) => attached.get(p)?.has(m.name) ?? false),
    );
    const eligible: number[] = [];
    const taintBlocked: number[] = [];
    meetsRequirements.forEach((ok, i) => {
      if (!ok) return;
      if (tolerates(tolerations, taints[i]!)) eligible.push(i);
      else taintBlocked.push(i);
    });
    const cpu = cpuMillis(w.requires.cpu);
    const mem = memoryBytes(w.requires.memory);
    const fitsEmpty = new Uint8Array(modules.length);
    // Taint-blocked modules too: the plan calls a workload taint-blocked only where it would fit.
    for (const i of [...eligible, ...taintBlocked]) {
      const fits = (r: Resources) => r.cpuMillis >= cpu && r.memoryBytes >= mem;
      fitsEmpty[i] = (fits(allocAgent[i]!) ? FITS_AGENT : 0) | (fits(allocServer[i]!) ? FITS_SERVER : 0);
    }
    const excl = [...new Set(w.peripherals)].map((p) => exclusiveIndex.get(p)).filter((i): i is number => i !== undefined);
    return {
      index,
      spec: w,
      cpu,
      mem,
      rank: CRITICALITY_RANK[w.criticality],
      perModule: w.kind === 'daemonset' && excl.length === 0,
      eligible,
      taintBlocked,
      fitsEmpty,
      exclusive: excl,
      ownerOrder: [],
    };
  });

  for (const w of workloads) {
    if (w.exclusive.length === 0) continue;
    const sharers = workloads.filter((o) => o !== w && o.exclusive.some((p) => w.exclusive.includes(p)));
    const suitsAll = w.eligible.filter((m) => sharers.every((o) => o.eligible.includes(m)));
    const pool = new Set(suitsAll.length ? suitsAll : w.eligible);
    w.ownerOrder = exclusive[w.exclusive[0]!]!.attached.filter((m) => pool.has(m));
  }
  return { moduleNames: modules.map((m) => m.name), allocAgent, allocServer, workloads, exclusive };
}

/** Which modules are up, and which of those serve (server reserve), for one situation. */
export interface Situation {
  alive: Uint8Array;
  server: Uint8Array;
}

export interface PlacementResult {
  /** Per workload index, the module index of each placed replica; only when asked for. */
  replicas?: number[][];
  /** Per workload index, the modules that could host it in this situation. */
  capable?: number[][];
  unplaced: UnplacedWorkload[];
}

/**
 * The greedy placement rule (docs/plan.md), deterministic:
 *  - workloads in order: critical, standard, best-effort; then daemonsets (they have no choice
 *    of module); then the fewest capable modules; then spec order;
 *  - a workload bound to an exclusive peripheral goes, all replicas, to the peripheral's owner;
 *    an unowned peripheral gets as owner the preferred module (ownerOrder) that fits the most
 *    replicas, first in that order on a tie;
 *  - a daemonset gets one pod on every capable module with room;
 *  - otherwise each replica goes to the capable module with room hosting the fewest replicas of
 *    this workload (spreading), then the most free memory, then spec order.
 * Capable = eligible, alive, and its request fits the module empty in its role. Placing from
 * scratch in priority order models the scheduler with priority preemption; it does not model
 * that Kubernetes never moves running pods of equal priority.
 */
export function place(model: PlacementModel, situation: Situation, opts: { detail: boolean }): PlacementResult {
  const { alive, server } = situation;
  const n = model.moduleNames.length;
  const freeCpu = new Float64Array(n);
  const freeMem = new Float64Array(n);
  const freePods = new Int32Array(n);
  for (let m = 0; m < n; m++) {
    if (!alive[m]) continue;
    const a = server[m] ? model.allocServer[m]! : model.allocAgent[m]!;
    freeCpu[m] = a.cpuMillis;
    freeMem[m] = a.memoryBytes;
    freePods[m] = MAX_PODS;
  }
  const owner = new Int32Array(model.exclusive.length).fill(-1);
  const hosted = new Int32Array(n);

  const fitsInRole = (w: CompiledWorkload, m: number) => alive[m] !== 0 && (w.fitsEmpty[m]! & (server[m] ? FITS_SERVER : FITS_AGENT)) !== 0;
  const capable = model.workloads.map((w) => w.eligible.filter((m) => fitsInRole(w, m)));
  const order = model.workloads
    .slice()
    .sort((a, b) => a.rank - b.rank || Number(b.perModule) - Number(a.perModule) || capable[a.index]!.length - capable[b.index]!.length || a.index - b.index);

  const replicas: number[][] | undefined = opts.detail ? model.workloads.map(() => []) : undefined;
  const unplaced: UnplacedWorkload[] = [];
  const fits = (w: CompiledWorkload, m: number) => freeCpu[m]! >= w.cpu && freeMem[m]! >= w.mem && freePods[m]! > 0;
  const put = (w: CompiledWorkload, m: number) => {
    freeCpu[m]! -= w.cpu;
    freeMem[m]! -= w.mem;
    freePods[m]! -= 1;
    replicas?.[w.index]!.push(m);
  };

  for (const w of order) {
    const cap = capable[w.index]!;
    // A daemonset wants a pod wherever it can run; with nowhere left it still wants one, since
    // whatever it does for the box is then not done at all.
    const wanted = w.perModule ? Math.max(1, cap.length) : w.spec.kind === 'daemonset' ? 1 : w.spec.replicas;
    if (wanted === 0) continue;
    const miss = (reason: UnplacedReason, missing: number) => {
      if (missing > 0) unplaced.push({ workload: w.spec.name, reason, wantedReplicas: wanted, missingReplicas: missing });
    };
    if (cap.length === 0) {
      // Name the taint when it is what keeps the workload out, so the fix is the policy, not hardware.
      miss(w.taintBlocked.some((m) => fitsInRole(w, m)) ? 'taint-blocked' : 'no-capable-module', wanted);
    } else if (w.exclusive.length > 0) {
      const owners = new Set(w.exclusive.map((p) => owner[p]!).filter((m) => m >= 0));
      const fixed = owners.size === 1 ? [...owners][0]! : undefined;
      if (owners.size > 1 || (fixed !== undefined && !cap.includes(fixed))) {
        miss('peripheral-conflict', wanted);
        continue;
      }
      const target = fixed ?? bestOwner(w, cap, wanted);
      for (const p of w.exclusive) owner[p] = target;
      let placed = 0;
      while (placed < wanted && fits(w, target)) {
        put(w, target);
        placed++;
      }
      miss('insufficient-capacity', wanted - placed);
    } else if (w.perModule) {
      let missing = 0;
      for (const m of cap) {
        if (fits(w, m)) put(w, m);
        else missing++;
      }
      miss('insufficient-capacity', missing);
    } else {
      for (const m of cap) hosted[m] = 0;
      let placed = 0;
      for (; placed < wanted; placed++) {
        let best = -1;
        for (const m of cap) {
          if (!fits(w, m)) continue;
          if (best < 0 || hosted[m]! < hosted[best]! || (hosted[m] === hosted[best] && freeMem[m]! > freeMem[best]!)) best = m;
        }
        if (best < 0) break;
        put(w, best);
        hosted[best]! += 1;
      }
      miss('insufficient-capacity', wanted - placed);
    }
  }
  return { ...(replicas ? { replicas } : {}), ...(opts.detail ? { capable } : {}), unplaced };

  function bestOwner(w: CompiledWorkload, cap: number[], wanted: number): number {
    const candidates = w.ownerOrder.filter((m) => cap.includes(m));
    // Sharers leave no common module in this situation: any capable module will do.
    const pool = candidates.length ? candidates : cap;
    let best = pool[0]!;
    let bestCount = -1;
    for (const m of pool) {
      const count = Math.min(wanted, freePods[m]!, w.cpu > 0 ? Math.floor(freeCpu[m]! / w.cpu) : wanted, w.mem > 0 ? Math.floor(freeMem[m]! / w.mem) : wanted);
      if (count > bestCount) {
        best = m;
        bestCount = count;
      }
    }
    return best;
  }
}
