import { execFile } from 'node:child_process';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { readState, type BoxState } from './box-state.js';
import { setSelectorLabel } from './failure-injection.js';
import { boxTag, cgroupsAvailable, moduleCgroup } from './module-cgroup.js';
import { LOOPBACK } from './ports.js';
import { runningServerProcesses } from './process-driver.js';
import { memberAddresses, readServerRecord } from './server-layout.js';
import { KWOK_SELECTOR } from './simulated-nodes.js';

/**
 * Network faults of a local box: what a module can no longer reach. Every process of a module
 * runs in the module's cgroup (module-cgroup.ts), so a firewall rule can say "packets of module
 * a's processes to module b's address are dropped", whatever protocol: heartbeats, etcd peer and
 * client traffic, API requests. Three kinds of cut:
 *  - `cut a>b`: a's packets to b are dropped (a partition is both directions; `--one-way` one).
 *  - `isolate m`: m's packets to anyone but itself, and anyone's to m, are dropped.
 *  - `no-api m`: m's requests to the box's API address are dropped. Not asked for: it follows
 *    from the others. A module that cannot reach a quorum of the etcd members (two-way: TCP needs
 *    both) cannot reach a working API either, on a real box (the API address is served by the
 *    side with the quorum; a lone API server without quorum serves no writes), so its agent loses
 *    the API and its kubelet stops renewing its node (KWOK stops playing it), as on hardware.
 * The rules live in a chain of the box's own (`edgebox-<box tag>`, hooked from OUTPUT, where a
 * packet's socket and so its cgroup are known), one comment per cut: they are the state, so `heal`,
 * `down` and `status` find them from any invocation, and two boxes never touch each other's.
 */

export type Cut = { kind: 'cut'; from: string; to: string } | { kind: 'isolate'; module: string } | { kind: 'no-api'; module: string };

/** What rules need to know of the box. */
export interface CutContext {
  /** The module's cgroup path (`--path`). */
  cgroupOf(module: string): string;
  addressOf(module: string): string;
  /** The box's API address port on 127.0.0.1 (the API proxy). */
  apiPort: number;
}

const COMMENT = 'edgebox';

export function chainName(dir: string): string {
  return `edgebox-${boxTag(dir)}`;
}

/** The comment naming a cut: `edgebox:cut:a:b`, `edgebox:isolate:m`, `edgebox:no-api:m`. Pure. */
export function cutComment(c: Cut): string {
  return c.kind === 'cut' ? `${COMMENT}:cut:${c.from}:${c.to}` : `${COMMENT}:${c.kind}:${c.module}`;
}

/** The iptables rules (arguments after `-A <chain>`) of one cut. Pure. */
export function cutRules(c: Cut, ctx: CutContext): string[][] {
  const tail = ['-m', 'comment', '--comment', cutComment(c), '-j', 'DROP'];
  switch (c.kind) {
    case 'cut':
      return [['-m', 'cgroup', '--path', ctx.cgroupOf(c.from), '-d', ctx.addressOf(c.to), ...tail]];
    case 'isolate': {
      const address = ctx.addressOf(c.module);
      const cgroup = ctx.cgroupOf(c.module);
      return [
        ['-m', 'cgroup', '--path', cgroup, '!', '-d', address, ...tail],
        ['-d', address, '-m', 'cgroup', '!', '--path', cgroup, ...tail],
      ];
    }
    case 'no-api':
      return [['-m', 'cgroup', '--path', ctx.cgroupOf(c.module), '-d', LOOPBACK, '-p', 'tcp', '--dport', String(ctx.apiPort), ...tail]];
  }
}

/** The cuts the rules of `iptables -S <chain>` output make, each once. Pure. */
export function cutsIn(listing: string): Cut[] {
  const found = new Map<string, Cut>();
  for (const line of listing.split('\n')) {
    const comment = /--comment "?([^"\s]+)"?/.exec(line)?.[1];
    const [prefix, kind, a, b] = comment?.split(':') ?? [];
    if (prefix !== COMMENT || !a) continue;
    if (kind === 'cut' && b) found.set(comment!, { kind, from: a, to: b });
    else if (kind === 'isolate' || kind === 'no-api') found.set(comment!, { kind, module: a });
  }
  return [...found.values()];
}

/** The cuts of a partition of `group` from `others`: both ways, or only the group's packets with `oneWay`. Pure. */
export function partitionCuts(group: readonly string[], others: readonly string[], oneWay = false): Cut[] {
  return group.flatMap((a) => others.flatMap((b): Cut[] => [{ kind: 'cut', from: a, to: b }, ...(oneWay ? [] : [{ kind: 'cut' as const, from: b, to: a }])]));
}

/**
 * The modules that lose the API under `cuts`. The API works only where a quorum of the etcd
 * `members` still reach each other (two-way: TCP needs both, and none isolated); a module keeps it
 * when it is in that quorum or reaches one of its members (an API server backed by the quorum).
 * With no member on a module (a `single` box, whose API server is no module's) only an isolated
 * module loses it. Pure; brute force over the members'
 * subsets, which are a handful.
 */
export function apiLosers(modules: readonly string[], members: readonly string[], cuts: readonly Cut[]): string[] {
  const isolated = new Set(cuts.flatMap((c) => (c.kind === 'isolate' ? [c.module] : [])));
  if (members.length === 0) return modules.filter((m) => isolated.has(m));
  const cut = new Set(cuts.flatMap((c) => (c.kind === 'cut' ? [`${c.from}>${c.to}`] : [])));
  const reaches = (a: string, b: string) => a === b || (!isolated.has(a) && !isolated.has(b) && !cut.has(`${a}>${b}`) && !cut.has(`${b}>${a}`));
  let quorum: string[] = [];
  for (let mask = 1; mask < 1 << members.length; mask++) {
    const q = members.filter((_, i) => mask & (1 << i));
    if (q.length * 2 > members.length && q.length > quorum.length && q.every((a) => q.every((b) => reaches(a, b)))) quorum = q;
  }
  return modules.filter((m) => !quorum.some((x) => reaches(m, x)));
}

/** What a cut touches: a module named in it. */
function involves(c: Cut, module: string): boolean {
  return c.kind === 'cut' ? c.from === module || c.to === module : c.module === module;
}

// ---------------------------------------------------------------------------------------------
// The shell: the box's chain, and the KWOK label of modules that lose or regain the API.

export interface NetworkChange {
  /** Cuts added or removed, `no-api` included. */
  changed: Cut[];
  /** Modules cut off from the API now (their node no longer renewed). */
  offApi: string[];
}

/**
 * `partition <group> [--from <others>] [--one-way]`: the group's modules cannot reach the others
 * (default: every other module of the box), nor they the group unless `oneWay`. Idempotent.
 */
export async function partitionModules(dir: string, group: readonly string[], o: { from?: readonly string[]; oneWay?: boolean } = {}): Promise<NetworkChange> {
  const state = await boxWithAgents(dir, 'a partition cuts what modules send each other');
  for (const m of [...group, ...(o.from ?? [])]) knownModule(state, m);
  const others = o.from ?? Object.keys(state.addresses).filter((m) => !group.includes(m));
  const both = group.filter((m) => others.includes(m));
  if (both.length > 0) throw inputError('local.partition-self', `${both.join(', ')} is on both sides of the partition`, 'name each module on one side only');
  if (others.length === 0)
    throw inputError('local.partition-empty', 'the other side of the partition is empty', 'name modules with --from, or leave some out of the group');
  return change(state, (cuts) => [...cuts, ...partitionCuts(group, others, o.oneWay)]);
}

/** `isolate <module>`: cut off from everything, peers and API; its node stops being renewed. Idempotent. */
export async function isolateModule(dir: string, module: string): Promise<NetworkChange> {
  const state = await boxWithAgents(dir, 'isolation is about what a module and its agent do when cut off');
  knownModule(state, module);
  return change(state, (cuts) => [...cuts, { kind: 'isolate', module }]);
}

/**
 * `heal [module] [--from <peer>]`: lifts every cut of `module` (with `peer` only, when given), or
 * every cut of the box; modules that reach the API again get their node played again, unless
 * killed meanwhile. Idempotent.
 */
export async function healModules(dir: string, filter: { module?: string; peer?: string } = {}): Promise<NetworkChange> {
  const state = await readState(dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  if (!cgroupsAvailable()) return { changed: [], offApi: [] };
  const keep = (c: Cut) => {
    if (c.kind === 'no-api') return true;
    if (filter.module !== undefined && !involves(c, filter.module)) return true;
    if (filter.peer !== undefined && (c.kind !== 'cut' || !involves(c, filter.peer))) return true;
    return false;
  };
  return change(state, (cuts) => cuts.filter(keep));
}

/** The box's cuts, for `status` and the tests; none where no rules could have been made. */
export async function listCuts(dir: string): Promise<Cut[]> {
  if (!cgroupsAvailable()) return [];
  return cutsIn(await iptables(['-S', chainName(dir)]).catch(() => ''));
}

/** `down`: the box's chain goes, rules and all. Quiet when there is none. */
export async function removeChain(dir: string): Promise<void> {
  if (!cgroupsAvailable()) return;
  await dropChain(chainName(dir));
}

/** Unhooks a chain from OUTPUT and deletes it, rules and all. Quiet when there is none. */
export async function dropChain(chain: string): Promise<void> {
  if (
    !(await iptables(['-S', chain]).then(
      () => true,
      () => false,
    ))
  )
    return;
  await iptables(['-D', 'OUTPUT', '-j', chain]).catch(() => undefined);
  await iptables(['-F', chain]);
  await iptables(['-X', chain]);
}

/**
 * Moves the box's cuts from what the chain holds to `next(current)` (the asked-for cuts, without
 * `no-api`), then derives the `no-api` cuts and the KWOK labels from the result.
 */
async function change(state: BoxState, next: (cuts: Cut[]) => Cut[]): Promise<NetworkChange> {
  requireCgroups();
  const dir = state.dir;
  const chain = chainName(dir);
  await ensureChain(chain);
  const listing = await iptables(['-S', chain]);
  const current = cutsIn(listing);
  const asked = dedupe(next(current.filter((c) => c.kind !== 'no-api')).filter((c) => c.kind !== 'no-api'));
  const members = await liveMembers(state);
  const modules = Object.keys(state.addresses);
  const offApi = apiLosers(modules, members, asked);
  const wanted = [
    ...asked,
    ...offApi.filter((m) => !asked.some((c) => c.kind === 'isolate' && c.module === m)).map((module): Cut => ({ kind: 'no-api', module })),
  ];
  const wantedComments = new Set(wanted.map(cutComment));
  const currentComments = new Set(current.map(cutComment));
  const ctx: CutContext = { cgroupOf: (m) => moduleCgroup(dir, m), addressOf: (m) => state.addresses[m]!, apiPort: state.ports.apiserver };

  const wasOff = new Set(
    apiLosers(
      modules,
      members,
      current.filter((c) => c.kind !== 'no-api'),
    ),
  );
  // KWOK first for a module that loses the API: the last renewal of its node must come before its
  // peers last hear it, or the controller would rightly take the node for alive.
  for (const m of offApi) if (!wasOff.has(m) && !state.killed.includes(m)) await setSelectorLabel(dir, m, null).catch(() => undefined);

  const changed: Cut[] = [];
  for (const c of wanted) {
    if (currentComments.has(cutComment(c))) continue;
    for (const rule of cutRules(c, ctx)) await iptables(['-A', chain, ...rule]);
    changed.push(c);
  }
  for (const line of listing.split('\n')) {
    const comment = /--comment "?([^"\s]+)"?/.exec(line)?.[1];
    if (!line.startsWith(`-A ${chain} `) || !comment || wantedComments.has(comment)) continue;
    // The listed rule, with -A turned into -D, deletes exactly that rule.
    await iptables(['-D', ...line.slice(3).replaceAll('"', '').split(/\s+/)]);
  }
  for (const c of current) if (!wantedComments.has(cutComment(c))) changed.push(c);

  for (const m of wasOff) if (!offApi.includes(m) && !state.killed.includes(m)) await setSelectorLabel(dir, m, KWOK_SELECTOR.value).catch(() => undefined);
  return { changed, offApi };
}

function dedupe(cuts: Cut[]): Cut[] {
  return [...new Map(cuts.map((c) => [cutComment(c), c])).values()];
}

/** Modules whose etcd member runs now (the role drivers move membership around). */
async function liveMembers(state: BoxState): Promise<string[]> {
  const modules = Object.keys(memberAddresses(state)).filter((m) => m in state.addresses);
  const live = await Promise.all(
    modules.map(async (m) => ((await runningServerProcesses(await readServerRecord(state.dir, m))).some((p) => p.bin.endsWith('etcd')) ? m : undefined)),
  );
  return live.filter((m): m is string => m !== undefined);
}

/** Creates a chain and hooks it from OUTPUT, unless it is. */
export async function ensureChain(chain: string): Promise<void> {
  await iptables(['-N', chain]).catch(() => undefined);
  const hooked = await iptables(['-C', 'OUTPUT', '-j', chain]).then(
    () => true,
    () => false,
  );
  if (!hooked) await iptables(['-I', 'OUTPUT', '-j', chain]);
}

async function boxWithAgents(dir: string, why: string): Promise<BoxState> {
  const state = await readState(dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  if ((state.agents ?? []).length === 0) {
    throw failure(
      'local.no-agents',
      `box '${state.box}' runs no agents: ${why}`,
      `start them with \`edgebox local up ${state.spec} --dir ${dir} --with-agents\``,
    );
  }
  return state;
}

function knownModule(state: BoxState, module: string): void {
  if (!(module in state.addresses)) {
    throw inputError('local.unknown-module', `box '${state.box}' has no module '${module}'`, `modules: ${Object.keys(state.addresses).join(', ')}`);
  }
}

function requireCgroups(): void {
  if (process.getuid?.() !== 0) {
    throw failure(
      'local.partition-needs-root',
      'cutting a module off changes the host firewall (iptables), which needs root',
      'run the command (or the tests) as root, e.g. with sudo',
    );
  }
  if (!cgroupsAvailable()) {
    throw failure(
      'local.partition-needs-cgroup2',
      'cutting a module off needs cgroup v2 (its processes are told apart by their cgroup), and none is mounted',
      'mount it (`mount -t cgroup2 none /sys/fs/cgroup/unified`) and start the box again',
    );
  }
}

/** Runs iptables (waiting for the xtables lock); fails with a diagnostic that says how to get it working. */
export function iptables(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('iptables', ['-w', ...args], (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(
          failure('local.iptables-missing', 'iptables is not installed; cutting a module off needs it', 'install it, e.g. `apt-get install -y iptables`'),
        );
      }
      reject(
        failure(
          'local.iptables-failed',
          `iptables ${args.join(' ')} failed: ${stderr.trim() || err.message}`,
          'check that the kernel has the iptables (nf_tables) and xt_cgroup modules and that no other firewall manager rewrites the OUTPUT chain',
        ),
      );
    });
  });
}
