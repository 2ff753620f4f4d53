import { between, oneOf, someOf, trialRng } from './prng.js';

/**
 * The fault menu: every fault is data (kind, targets, how long it holds, a parameter), drawn from
 * the trial's seeded generator, so a schedule is printed, stored and replayed as it is. Pure; the
 * injector (inject.ts) puts a fault in place and lifts it.
 */

export const FAULT_KINDS = [
  /** The module loses power: agent, etcd member, API server SIGKILLed; its node stops renewing. Revived at heal. */
  'module-kill',
  /** Only `edgebox agent` dies (crash, OOM, upgrade); the kubelet and the pods stay. Restarted at heal. */
  'agent-restart',
  /** The agent is stopped (SIGSTOP) and resumed (SIGCONT): a long pause of a live module. */
  'freeze-agent',
  /** A server's etcd member is stopped and resumed. */
  'freeze-etcd',
  /** A server's API server is stopped and resumed. */
  'freeze-apiserver',
  /** Two modules cannot reach each other (both ways); both reach everyone else. */
  'partition-peer',
  /** One or two modules cut off from the rest, both ways. */
  'partition-minority',
  /** A majority of modules cut off from the rest (the rest, a minority, is what is left alone). */
  'partition-majority',
  /** One module's packets to every other module dropped; theirs to it still arrive. */
  'partition-one-way',
  /** One module cut off from everything: peers and API. */
  'isolate',
  /** One module's wall clock stepped ahead (a board that booted with a wrong time), and back at heal. */
  'clock-ahead',
  /** One module's wall clock stepped back (an NTP step), and forward again at heal. */
  'clock-behind',
  /** A server's etcd fsync delayed (a worn SD card): every fdatasync waits. */
  'slow-disk',
  /** Requests to one server's API server are dropped (a hung API server); its process runs on. */
  'api-hang',
  /** The controller holding the leader Lease dies (SIGKILL); started again at heal. */
  'controller-leader-kill',
  /** A server module and the controller leader die together. */
  'server-and-leader-kill',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * The kinds the K3s engine (src/local/engine) cannot play, and why. Its servers live in network
 * namespaces of their own, on a bridge the local box's cuts and hangs (iptables on the loopback
 * addresses) do not reach; and etcd and the API server are one K3s process.
 */
export const K3S_UNPLAYED: Readonly<Partial<Record<FaultKind, string>>> = {
  'freeze-apiserver': 'etcd and the API server are one K3s process: freeze-etcd freezes it',
  'partition-peer': "the cuts are iptables rules on the loopback addresses; K3s's peer traffic crosses a bridge between namespaces",
  'partition-minority': 'as partition-peer',
  'partition-majority': 'as partition-peer',
  'partition-one-way': 'as partition-peer',
  isolate: 'as partition-peer',
  'api-hang': "the hang drops the API port on a loopback address; K3s's API server listens in its namespace",
};

/** The menu an engine plays. */
export function faultKinds(engine: 'process' | 'k3s'): FaultKind[] {
  return engine === 'k3s' ? FAULT_KINDS.filter((k) => K3S_UNPLAYED[k] === undefined) : [...FAULT_KINDS];
}

/** The controller leader, found from its Lease when the fault is injected. */
export const LEADER = 'controller-leader';

export interface Fault {
  kind: FaultKind;
  /** Modules (or LEADER). For partitions: the group cut off; `peers` is the other side. */
  targets: string[];
  /** The other side of a partition (default: every other module). */
  peers?: string[];
  /** From the trial's start to the injection. */
  atMs: number;
  /** How long it holds before it is lifted. */
  holdMs: number;
  /** clock-*: the offset in ms (negative behind); slow-disk: the fsync delay in µs. */
  param?: number;
}

/** What the draw needs to know of the box. */
export interface BoxShape {
  modules: readonly string[];
  /** Modules that run an etcd member and an API server. */
  servers: readonly string[];
}

export interface TrialPlan {
  seed: number;
  trial: number;
  faults: Fault[];
}

/**
 * The schedule of trial `trial` of a run with `seed`: one fault, its kind drawn uniformly from the
 * menu (`kinds`, default all), its targets, hold (2-8 s) and parameter. Pure: the same arguments
 * give the same plan, whatever ran before.
 */
export function drawTrial(seed: number, trial: number, box: BoxShape, kinds: readonly FaultKind[] = FAULT_KINDS): TrialPlan {
  const r = trialRng(seed, trial);
  const kind = oneOf(r, kinds);
  const atMs = between(r, 500, 1500);
  const holdMs = between(r, 2000, 8000);
  const any = () => oneOf(r, box.modules);
  const server = () => oneOf(r, box.servers);
  const base = { kind, atMs, holdMs };
  const fault = ((): Fault => {
    switch (kind) {
      case 'module-kill':
      case 'agent-restart':
      case 'freeze-agent':
      case 'partition-one-way':
      case 'isolate':
        return { ...base, targets: [any()] };
      case 'freeze-etcd':
      case 'freeze-apiserver':
      case 'api-hang':
        return { ...base, targets: [server()] };
      case 'partition-peer': {
        const [a, b] = someOf(r, box.modules, 2);
        return { ...base, targets: [a!], peers: [b!] };
      }
      case 'partition-minority':
      case 'partition-majority': {
        const minority = Math.max(1, Math.floor((box.modules.length - 1) / 2));
        const size = kind === 'partition-minority' ? between(r, 1, minority) : box.modules.length - between(r, 1, minority);
        const group = someOf(r, box.modules, size).sort();
        return { ...base, targets: group, peers: box.modules.filter((m) => !group.includes(m)) };
      }
      case 'clock-ahead':
        // Seconds to ten minutes: past every lease and view timeout the box has.
        return { ...base, targets: [any()], param: between(r, 5, 600) * 1000 };
      case 'clock-behind':
        // Less than the box's age: certificates issued at its start must stay valid (NotBefore).
        return { ...base, targets: [any()], param: -between(r, 2, 20) * 1000 };
      case 'slow-disk':
        return { ...base, targets: [server()], param: between(r, 20, 200) * 1000 };
      case 'controller-leader-kill':
        return { ...base, targets: [LEADER] };
      case 'server-and-leader-kill':
        return { ...base, targets: [server(), LEADER] };
    }
  })();
  return { seed, trial, faults: [fault] };
}

/** One line for the output and the history: `isolate s2 hold 3.4 s`. Pure. */
export function describeFault(f: Fault): string {
  const who = f.peers && f.kind !== 'partition-one-way' ? `${f.targets.join('+')} | ${f.peers.join('+')}` : f.targets.join('+');
  const param =
    f.param === undefined ? '' : f.kind === 'slow-disk' ? ` fsync +${f.param / 1000} ms` : ` clock ${f.param > 0 ? '+' : ''}${(f.param / 1000).toFixed(0)} s`;
  return `${f.kind} ${who}${param} hold ${(f.holdMs / 1000).toFixed(1)} s`;
}
