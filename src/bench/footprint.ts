import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSecretFile } from '../agent/heartbeat/secret.js';
import { CONTROLLER_NODE_OPTIONS, controllerEnv } from '../contract/controller-process.js';
import { down } from '../local/down.js';
import { LOCAL_ADDRESS_ANNOTATION, simulatedNodes } from '../local/simulated-nodes.js';
import { up } from '../local/up.js';
import { loadSpec } from '../spec/load.js';
import { describeSimulation, FAULTS } from './simulation.js';
import { reportTargets, type Target } from './targets.js';

/**
 * `npm run bench:footprint`: the agent's and the controller's resident memory and CPU while idle (targets: an agent
 * <= 50 MB and < 0.5 % of a core, the controller <= 100 MB, run as deployed: bundled, with its NODE_OPTIONS), on a local box of
 * six modules, three of them servers (test/fixtures/agents-6.yaml). After a warm-up, each process
 * is sampled from /proc for IDLE_S seconds: VmRSS (largest sample) and CPU over the window as a
 * share of one core, its own and that of the commands it ran (utime+stime+cutime+cstime). In the
 * same run, a bare `node -e "setInterval(()=>{},1000)"` is the baseline. Two phases on one box:
 *   1. the agent alone: six `edgebox agent run` heartbeating each other on 127.0.1.1-6 and
 *      renewing their Leases on the box's API server, and `edgebox controller`;
 *   2. the agents as a module runs them: `local up --with-agents`, with a role driver (`process`,
 *      the local stand-in for the rendered unit's `k3s`: the role loop observes its module's
 *      member and reads its Node) and a runtime; a server's agent reads its etcd member too.
 * Targets (issue 15): every agent at most 50 MB RSS and under 0.5 % of one core, in both phases;
 * a miss exits 1.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SPEC = join(ROOT, 'test/fixtures/agents-6.yaml');
const CLI = join(ROOT, 'bin/edgebox.js');
const WARMUP_S = 5;
const IDLE_S = 30;
const SAMPLE_EVERY_S = 5;
const TARGET_RSS_MB = 50;
const TARGET_CPU_PCT = 0.5;
/** The controller idle, leading a box of six modules whose agents publish their views. */
const TARGET_CONTROLLER_RSS_MB = 100;
const BASELINE = 'setInterval(() => {}, 1000)';
const log = (line: string) => process.stdout.write(`${line}\n`);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

interface Proc {
  name: string;
  /** A process this bench started, or one `local up` started (its pid from the box state). */
  child?: ChildProcess;
  pid?: number;
}

interface Figures {
  name: string;
  rssMb: number;
  cpuPct: number;
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime: fields 14-17 of stat(5). The children's share is the commands
  // the agent runs (a role driver's), once each has ended.
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  return kb / 1024;
}

/** Starts a node process and resolves once `ready` matches its stdout (or at once without one). */
function start(name: string, args: string[], ready?: RegExp, env?: NodeJS.ProcessEnv): Promise<Proc> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-2000);
    });
    // Before it is ready this fails the start; after, it fails the measurement that reads its /proc.
    child.once('exit', (code, signal) => {
      const e = new Error(`${name} exited (${code ?? signal}): ${err.trim() || out.trim().split('\n').slice(-3).join('\n')}`);
      exits.set(child.pid!, e);
      reject(e);
    });
    if (!ready) resolve({ name, child });
    child.stdout!.on('data', (c: Buffer) => {
      // Only the tail is kept: enough to see the readiness line and a dying process's last words.
      out = (out + c.toString()).slice(-4000);
      if (ready?.test(out)) resolve({ name, child });
    });
  });
}

/** Why a started process ended, by pid: reported instead of a bare ENOENT on its /proc. */
const exits = new Map<number, Error>();
const alive = (p: Proc) => {
  const pid = p.child?.pid ?? p.pid!;
  const e = exits.get(pid);
  if (e) throw e;
  return pid;
};

async function measure(procs: Proc[]): Promise<Figures[]> {
  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
  const before = await Promise.all(procs.map(async (p) => cpuTicks(alive(p))));
  const maxRss = procs.map(() => 0);
  for (let t = 0; t < IDLE_S; t += SAMPLE_EVERY_S) {
    await new Promise((r) => setTimeout(r, SAMPLE_EVERY_S * 1000));
    const rss = await Promise.all(procs.map(async (p) => rssMb(alive(p))));
    rss.forEach((v, i) => {
      maxRss[i] = Math.max(maxRss[i]!, v);
    });
  }
  const after = await Promise.all(procs.map(async (p) => cpuTicks(alive(p))));
  return procs.map((p, i) => ({ name: p.name, rssMb: maxRss[i]!, cpuPct: ((after[i]! - before[i]!) / CLK_TCK / IDLE_S) * 100 }));
}

/** The phase's figures as a table; returns its targets: the worst agent's RSS and CPU. */
function report(phase: string, title: string, figures: Figures[]): Target[] {
  const base = figures.find((f) => f.name === 'baseline')!;
  log(`\n${title}: idle ${IDLE_S} s after ${WARMUP_S} s warm-up; RSS = largest VmRSS sample, CPU = share of one core`);
  log(`  ${'process'.padEnd(16)}${'RSS MB'.padStart(9)}${'x base'.padStart(8)}${'CPU %'.padStart(8)}  verdict`);
  for (const f of figures) {
    const within = f.name.startsWith('agent')
      ? f.rssMb <= TARGET_RSS_MB && f.cpuPct < TARGET_CPU_PCT
      : f.name === 'controller'
        ? f.rssMb <= TARGET_CONTROLLER_RSS_MB
        : undefined;
    const target = within === undefined ? '' : within ? 'within target' : 'OVER target';
    log(`  ${f.name.padEnd(16)}${f.rssMb.toFixed(1).padStart(9)}${(f.rssMb / base.rssMb).toFixed(2).padStart(8)}${f.cpuPct.toFixed(2).padStart(8)}  ${target}`);
  }
  const controller = figures.find((f) => f.name === 'controller');
  if (controller) log(`  controller: RSS ${controller.rssMb.toFixed(1)} MB (target <= ${TARGET_CONTROLLER_RSS_MB}, NODE_OPTIONS ${CONTROLLER_NODE_OPTIONS})`);
  const agents = figures.filter((f) => f.name.startsWith('agent'));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  log(
    `  agents: RSS max ${Math.max(...agents.map((f) => f.rssMb)).toFixed(1)} MB (target <= ${TARGET_RSS_MB}), mean ${mean(agents.map((f) => f.rssMb)).toFixed(1)} MB; ` +
      `CPU max ${Math.max(...agents.map((f) => f.cpuPct)).toFixed(2)} % (target < ${TARGET_CPU_PCT}); ` +
      `above the baseline: ${(mean(agents.map((f) => f.rssMb)) - base.rssMb).toFixed(1)} MB, ${(mean(agents.map((f) => f.cpuPct)) - base.cpuPct).toFixed(2)} %`,
  );
  return [
    ...(controller
      ? [{ name: `${phase}: controller RSS`, measured: controller.rssMb, bound: TARGET_CONTROLLER_RSS_MB, unit: 'MB', comparison: '<=' as const }]
      : []),
    { name: `${phase}: agent RSS, largest`, measured: Math.max(...agents.map((f) => f.rssMb)), bound: TARGET_RSS_MB, unit: 'MB', comparison: '<=' },
    { name: `${phase}: agent CPU, largest`, measured: Math.max(...agents.map((f) => f.cpuPct)), bound: TARGET_CPU_PCT, unit: '% of a core', comparison: '<' },
  ];
}

/** Everything this run started, so that both the end and Ctrl-C stop it. */
const procs: Proc[] = [];
let boxDir: string | undefined;

function stopAll(): void {
  for (const p of procs.splice(0)) {
    p.child?.removeAllListeners('exit');
    p.child?.kill('SIGTERM');
  }
}

async function cleanUp(): Promise<void> {
  stopAll();
  if (!boxDir) return;
  const dir = boxDir;
  boxDir = undefined;
  await down(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * What the shell that started the bench gives Node.js that an agent's unit does not (systemd starts
 * it with no environment of its own): NODE_EXTRA_CA_CERTS makes Node parse a CA bundle at its first
 * TLS connection, 1-3.5 MB of an agent's RSS measured here with Debian's bundle. Removed from this
 * process before anything starts, so the agents and the baseline (and `local up`'s agents, which
 * inherit it) run as on a module; said in the output.
 */
const SHELL_ONLY_ENV = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];

async function run(): Promise<Target[]> {
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench:footprint does)');
  const dropped = SHELL_ONLY_ENV.filter((k) => process.env[k] !== undefined);
  for (const k of dropped) delete process.env[k];
  log(`agents and the baseline run with the environment of their unit${dropped.length > 0 ? `: ${dropped.join(', ')} of this shell removed` : ''}`);
  const dir = await mkdtemp(join(tmpdir(), 'edgebox-bench-footprint-'));
  boxDir = dir;
  try {
    log(`starting a local box of ${SPEC}`);
    const { kubeconfig, state: bare } = await up(SPEC, { dir, progress: (line) => log(`  ${line.trim()}`) });
    for (const line of describeSimulation(bare, [FAULTS.none])) log(`  ${line}`);
    log('  phase 1 adds the agents and a controller this bench starts itself');
    const secret = join(dir, 'box-secret');
    await createSecretFile(secret);
    const { box } = await loadSpec(SPEC);
    const addressMap = JSON.stringify(
      Object.fromEntries(simulatedNodes(box).map((n) => [n.metadata!.name!, n.metadata!.annotations![LOCAL_ADDRESS_ANNOTATION]!])),
    );
    const port = String(20_000 + Math.floor(Math.random() * 20_000));
    const agentArgs = (module: string) => [
      'agent',
      'run',
      '--spec',
      SPEC,
      '--module',
      module,
      '--secret-file',
      secret,
      '--kubeconfig',
      kubeconfig,
      '--port',
      port,
      '--http-port',
      '0',
      '--metrics-port',
      '0',
      '--address-map',
      addressMap,
      '--state-dir',
      join(dir, 'agent', module),
    ];

    procs.push(await start('baseline', ['-e', BASELINE]));
    procs.push(...(await Promise.all(box.spec.modules.map((m) => start(`agent ${m.name}`, [CLI, ...agentArgs(m.name)], /"msg":"agent started"/)))));
    // As the rendered Deployment and a local box run it (src/contract/controller-process.ts).
    procs.push(await start('controller', [CLI, 'controller', '--kubeconfig', kubeconfig, '--spec', SPEC, '--metrics-port', '0'], undefined, controllerEnv()));
    const targets = report('phase 1', '1. `edgebox agent run` (heartbeats and Lease) and `edgebox controller`', await measure(procs));

    const baseline = procs.shift()!;
    stopAll();
    log('\nstarting the agents as `local up --with-agents` does (role driver process, runtime local)');
    const { state } = await up(SPEC, { dir, withAgents: true, progress: (line) => log(`  ${line.trim()}`) });
    for (const line of describeSimulation(state, [FAULTS.none])) log(`  ${line}`);
    const servers = new Set(state.controlPlane.initialServers);
    procs.push(baseline, ...(state.agents ?? []).map((a) => ({ name: `agent ${a.module}${servers.has(a.module) ? ' (s)' : ''}`, pid: a.pid })));
    const figures = await measure(procs);
    targets.push(...report('phase 2', '2. the agents with a role driver; (s) = a server module, whose role loop reads its etcd member', figures));
    const worst = (xs: Figures[]) => `${Math.max(...xs.map((f) => f.cpuPct)).toFixed(2)} %, ${Math.max(...xs.map((f) => f.rssMb)).toFixed(1)} MB`;
    const agents = figures.filter((f) => f.name.startsWith('agent'));
    log(`  servers: CPU max, RSS max ${worst(agents.filter((f) => f.name.endsWith('(s)')))}; others: ${worst(agents.filter((f) => !f.name.endsWith('(s)')))}`);
    return targets;
  } finally {
    await cleanUp();
  }
}

process.once('SIGINT', () => {
  void cleanUp().finally(() => process.exit(130));
});
try {
  reportTargets(await run());
} catch (e) {
  process.stderr.write(`footprint: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
