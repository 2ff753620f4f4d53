import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { readState, type BoxState } from './box-state.js';
import { setSelectorLabel } from './failure-injection.js';
import { KWOK_SELECTOR } from './simulated-nodes.js';

/**
 * A partial partition of a local box: the heartbeats between two modules are dropped, both
 * ways, by iptables rules on the host (every 127.0.1.N is the same loopback interface, so there
 * is no link to cut). Everything else keeps flowing: both modules still reach the API server and
 * every other peer, which is exactly the case where one witness's view must not fence anything.
 *
 * The rules are the state: each carries a comment naming the box (a hash of its directory) and
 * the pair, so `heal`, `down` and `status` find them from any invocation, and two boxes on one
 * machine never touch each other's rules (each rule also matches only its box's UDP port).
 */

export interface Partition {
  module: string;
  peer: string;
}

export interface PartitionRule {
  source: string;
  destination: string;
  port: number;
  comment: string;
}

const COMMENT_PREFIX = 'edgebox-partition';

/** Identifies a box's rules: its directory, hashed to keep the comment short and free of spaces. */
export function boxTag(dir: string): string {
  return createHash('sha256').update(dir).digest('hex').slice(0, 12);
}

/** The two DROP rules of a partition between `a` and `b`, one per direction. Pure. */
export function partitionRules(o: {
  dir: string;
  port: number;
  a: { module: string; address: string };
  b: { module: string; address: string };
}): PartitionRule[] {
  const [first, second] = [o.a, o.b].sort((x, y) => x.module.localeCompare(y.module));
  const comment = `${COMMENT_PREFIX}:${boxTag(o.dir)}:${first!.module}:${second!.module}`;
  return [
    { source: o.a.address, destination: o.b.address, port: o.port, comment },
    { source: o.b.address, destination: o.a.address, port: o.port, comment },
  ];
}

/** `iptables` arguments after the command (`-I`, `-C` or `-D`) and the chain. Pure. */
export function ruleArgs(r: PartitionRule): string[] {
  return ['-s', r.source, '-d', r.destination, '-p', 'udp', '--dport', String(r.port), '-m', 'comment', '--comment', r.comment, '-j', 'DROP'];
}

/**
 * The partitions a box's rules in `iptables -S INPUT` output make. Pure. Lines look like
 * `-A INPUT -s 127.0.1.1/32 -d 127.0.1.2/32 -p udp -m udp --dport 17946 -m comment --comment "edgebox-partition:<tag>:a:b" -j DROP`.
 */
export function partitionsIn(listing: string, dir: string): Partition[] {
  const found = new Map<string, Partition>();
  const tag = `${COMMENT_PREFIX}:${boxTag(dir)}:`;
  for (const line of listing.split('\n')) {
    const comment = /--comment "?([^"\s]+)"?/.exec(line)?.[1];
    if (!comment?.startsWith(tag)) continue;
    const [module, peer] = comment.slice(tag.length).split(':');
    if (module && peer) found.set(comment, { module, peer });
  }
  return [...found.values()];
}

/** `partition <module> --from <peer>`: drops the heartbeats between the two, both ways. Idempotent. */
export async function partitionModules(dir: string, module: string, peer: string): Promise<{ changed: boolean; rules: PartitionRule[] }> {
  const rules = partitionRules(await pairOf(dir, module, peer));
  let changed = false;
  for (const r of rules) {
    if (
      await iptables(['-C', 'INPUT', ...ruleArgs(r)]).then(
        () => true,
        () => false,
      )
    )
      continue;
    await iptables(['-I', 'INPUT', ...ruleArgs(r)]);
    changed = true;
  }
  return { changed, rules };
}

/**
 * `heal <module> [--from <peer>]`: removes the box's partitions of `module` (with `peer` only,
 * when given); with no module, every partition of the box (`down` does that). Returns what was healed.
 */
export async function healPartitions(dir: string, filter: { module?: string; peer?: string } = {}): Promise<Partition[]> {
  const listing = await iptables(['-S', 'INPUT']);
  const involves = (p: Partition, m: string) => p.module === m || p.peer === m;
  const healed = partitionsIn(listing, dir).filter(
    (p) => (filter.module === undefined || involves(p, filter.module)) && (filter.peer === undefined || involves(p, filter.peer)),
  );
  const comments = new Set(healed.map((p) => `${COMMENT_PREFIX}:${boxTag(dir)}:${p.module}:${p.peer}`));
  for (const line of listing.split('\n')) {
    const comment = /--comment "?([^"\s]+)"?/.exec(line)?.[1];
    if (!line.startsWith('-A INPUT ') || !comment || !comments.has(comment)) continue;
    // The listed rule, with -A turned into -D, deletes exactly that rule.
    await iptables(['-D', ...line.slice(3).replaceAll('"', '').split(/\s+/)]);
  }
  return healed;
}

/** The box's partitions, for `status`; none when iptables cannot be read (not root: none were made). */
export async function listPartitions(dir: string): Promise<Partition[]> {
  if (!isRoot()) return [];
  return partitionsIn(await iptables(['-S', 'INPUT']).catch(() => ''), dir);
}

/** `down`: every rule of the box goes, whether or not the agents still run. Quiet when there is nothing to do. */
export async function healAll(dir: string): Promise<void> {
  if ((await listPartitions(dir)).length > 0) await healPartitions(dir);
  if (isRoot()) await deleteIsolationRules(await iptables(['-S', 'INPUT']).catch(() => ''), dir, undefined);
}

/*
 * Isolation: a module alive but cut off from everything, as a module whose switch port died is.
 * Its heartbeats are dropped both ways with every peer, its own TCP connections to the API server
 * are dropped (the agent binds them to the module's address, so they are told apart from the
 * host's), and its node stops being renewed by KWOK (a kubelet that cannot reach the API renews
 * nothing). Its agent keeps running: that is what self-fencing is for. The rules carry a comment
 * `edgebox-isolate:<box tag>:<module>` and match only this box's heartbeat and API ports.
 */

const ISOLATE_PREFIX = 'edgebox-isolate';

export interface IsolationRule {
  protocol: 'udp' | 'tcp';
  source?: string;
  destination?: string;
  port: number;
  comment: string;
}

/**
 * The DROP rules isolating a module at `address`: its heartbeats out and every peer's in (UDP to
 * the box's heartbeat port), and its connections to each API port. Pure.
 */
export function isolationRules(o: { dir: string; module: string; address: string; heartbeatPort: number; apiPorts: readonly number[] }): IsolationRule[] {
  const comment = `${ISOLATE_PREFIX}:${boxTag(o.dir)}:${o.module}`;
  return [
    { protocol: 'udp', source: o.address, port: o.heartbeatPort, comment },
    { protocol: 'udp', destination: o.address, port: o.heartbeatPort, comment },
    ...o.apiPorts.map((port) => ({ protocol: 'tcp' as const, source: o.address, port, comment })),
  ];
}

export function isolationRuleArgs(r: IsolationRule): string[] {
  return [
    ...(r.source ? ['-s', r.source] : []),
    ...(r.destination ? ['-d', r.destination] : []),
    '-p',
    r.protocol,
    '--dport',
    String(r.port),
    '-m',
    'comment',
    '--comment',
    r.comment,
    '-j',
    'DROP',
  ];
}

/** The modules a box's rules in `iptables -S INPUT` output isolate, sorted. Pure. */
export function isolationsIn(listing: string, dir: string): string[] {
  const tag = `${ISOLATE_PREFIX}:${boxTag(dir)}:`;
  const found = new Set<string>();
  for (const line of listing.split('\n')) {
    const comment = /--comment "?([^"\s]+)"?/.exec(line)?.[1];
    if (comment?.startsWith(tag) && comment.length > tag.length) found.add(comment.slice(tag.length));
  }
  return [...found].sort();
}

/**
 * The API ports a module's connections to the API server go to: the box's API address (the
 * proxy on 127.0.0.1) and the port every module's API server listens on.
 */
export function apiPorts(state: BoxState): number[] {
  return [state.ports.apiserver, state.ports.server.apiserver];
}

/** `isolate <module>`: cuts it off from its peers and the API; its node stops heartbeating. Idempotent. */
export async function isolateModule(dir: string, module: string): Promise<{ changed: boolean; rules: IsolationRule[] }> {
  const state = await readState(dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  const agent = (state.agents ?? []).find((a) => a.module === module);
  if ((state.agents ?? []).length === 0) {
    throw failure(
      'local.no-agents',
      `box '${state.box}' runs no agents: isolation is about what a module's agent does when cut off`,
      `start them with \`edgebox local up ${state.spec} --dir ${dir} --with-agents\``,
    );
  }
  if (!agent) throw inputError('local.unknown-module', `box '${state.box}' has no module '${module}'`, `modules: ${moduleNames(state).join(', ')}`);
  const rules = isolationRules({ dir, module, address: agent.address, heartbeatPort: agent.port, apiPorts: apiPorts(state) });
  // KWOK first: its last renewal of the node Lease must come before the peers last hear the
  // module, or the controller would rightly take the node for alive (renewed after that).
  if (!state.killed.includes(module)) await setSelectorLabel(dir, module, null);
  let changed = false;
  for (const r of rules) {
    if (
      await iptables(['-C', 'INPUT', ...isolationRuleArgs(r)]).then(
        () => true,
        () => false,
      )
    )
      continue;
    await iptables(['-I', 'INPUT', ...isolationRuleArgs(r)]);
    changed = true;
  }
  return { changed, rules };
}

/**
 * `heal [module]`: lifts the isolation of `module` (every isolated module without one): its rules
 * go and KWOK plays its node again, unless it was killed meanwhile. Returns the modules healed.
 */
export async function healIsolations(dir: string, module?: string): Promise<string[]> {
  const healed = await deleteIsolationRules(await iptables(['-S', 'INPUT']), dir, module);
  const state = await readState(dir);
  for (const m of healed) if (state && !state.killed.includes(m)) await setSelectorLabel(dir, m, KWOK_SELECTOR.value);
  return healed;
}

/** The box's isolated modules, for `status`; none when iptables cannot be read (not root: none were made). */
export async function listIsolations(dir: string): Promise<string[]> {
  if (!isRoot()) return [];
  return isolationsIn(await iptables(['-S', 'INPUT']).catch(() => ''), dir);
}

async function deleteIsolationRules(listing: string, dir: string, module: string | undefined): Promise<string[]> {
  const healed = isolationsIn(listing, dir).filter((m) => module === undefined || m === module);
  const comments = new Set(healed.map((m) => `${ISOLATE_PREFIX}:${boxTag(dir)}:${m}`));
  for (const line of listing.split('\n')) {
    const comment = /--comment "?([^"\s]+)"?/.exec(line)?.[1];
    if (!line.startsWith('-A INPUT ') || !comment || !comments.has(comment)) continue;
    await iptables(['-D', ...line.slice(3).replaceAll('"', '').split(/\s+/)]);
  }
  return healed;
}

async function pairOf(
  dir: string,
  module: string,
  peer: string,
): Promise<{ dir: string; port: number; a: { module: string; address: string }; b: { module: string; address: string } }> {
  const state = await readState(dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  const agents = state.agents ?? [];
  const find = (m: string) => agents.find((a) => a.module === m);
  if (agents.length === 0) {
    throw failure(
      'local.no-agents',
      `box '${state.box}' runs no agents: a partition cuts their heartbeats`,
      `start them with \`edgebox local up ${state.spec} --dir ${dir} --with-agents\``,
    );
  }
  if (module === peer) throw inputError('local.partition-self', `a module cannot be cut off from itself ('${module}')`, 'name another module with --from');
  for (const m of [module, peer]) {
    if (!find(m)) throw inputError('local.unknown-module', `box '${state.box}' has no module '${m}'`, `modules: ${moduleNames(state).join(', ')}`);
  }
  const a = find(module)!;
  const b = find(peer)!;
  return { dir, port: a.port, a: { module, address: a.address }, b: { module: peer, address: b.address } };
}

function moduleNames(state: BoxState): string[] {
  return (state.agents ?? []).map((a) => a.module);
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Runs iptables (waiting for the xtables lock); fails with a diagnostic that says how to get it working. */
function iptables(args: string[]): Promise<string> {
  if (!isRoot()) {
    return Promise.reject(
      failure(
        'local.partition-needs-root',
        'a partition changes the host firewall (iptables), which needs root',
        'run the command (or the tests) as root, e.g. with sudo',
      ),
    );
  }
  return new Promise((resolve, reject) => {
    execFile('iptables', ['-w', ...args], (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(failure('local.iptables-missing', 'iptables is not installed; a partition needs it', 'install it, e.g. `apt-get install -y iptables`'));
      }
      reject(
        failure(
          'local.iptables-failed',
          `iptables ${args.join(' ')} failed: ${stderr.trim() || err.message}`,
          'check that the kernel has the iptables (nf_tables) modules and that no other firewall manager rewrites the INPUT chain',
        ),
      );
    });
  });
}
