import { runBench } from './cli.js';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { ENGINES, type EngineName } from '../local/engine/engine.js';
import { applyBox } from '../apply/apply.js';
import { Cluster } from '../apply/cluster.js';
import { CONTROL_PLANE_ANNOTATIONS as A } from '../contract/control-plane.js';
import { GROUP, PLURAL, VERSION } from '../crd/edgebox-crd.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { readState, type BoxState } from '../local/box-state.js';
import { down } from '../local/down.js';
import { memberGateway, memberModules } from '../local/member-gateway.js';
import { k3sPaths } from '../local/engine/k3s-engine.js';
import { nodeOfMember } from '../agent/role/k3s-plan.js';
import { killModule, reviveModule } from '../local/failure-injection.js';
import { freeUdpPortOn } from '../local/ports.js';
import { localAddresses } from '../local/simulated-nodes.js';
import { up } from '../local/up.js';
import { loadSpec } from '../spec/load.js';
import { log, seconds as s } from './watch.js';
import { AckedWriter } from './acked-writer.js';
import { describeSimulation, FAULTS } from './simulation.js';
import { percentile, reportTargets } from './targets.js';
import { FENCE_ANNOTATIONS } from '../contract/fencing.js';
import type { ControlPlaneStatus } from '../contract/edgebox-status.js';
import { LABELS } from '../contract/labels.js';

/**
 * `npm run bench:control-plane [-- --trials N] [--kinds one,majority] [--trials-per-box N] [--engine process,k3s] [--keep-logs all|slow] [--course]`
 *
 * On a local box with real etcd members and API servers run by the agents (process role
 * driver), agents and a controller (test/fixtures/control-plane-box.yaml: 3 servers, 2 modules
 * that may serve, the `local` power driver on every module), for each trial:
 *   - a client writes a ConfigMap every 100 ms from 2 s before the kill until the box is restored,
 *     recording every acknowledged write with its resourceVersion (src/bench/acked-writer.ts);
 *   - kill one voter (one-server loss) or two (majority loss: the agents' recovery, then the
 *     guardian) at once, as a power cut;
 *   - time from the kill to: 3 voters (from etcd's own member list), each member answering with a
 *     leader, none of them a killed module, and the API serving (a list through the box's API
 *     address);
 *   - check that every acknowledged write is there with its resourceVersion (data loss) and that every member
 *     that answers agrees on one cluster (same cluster id, same voters; split brain otherwise);
 *   - revive the killed modules and wait until they are back as agents and the box is settled
 *     (3 healthy voters, nothing pending, no module fenced), then check split brain again.
 * Printed: p50/p95/max of the restore time per kind, objects lost, split-brain trials; under a
 * trial over its target or in error (every trial with `--course`), its course: what the bench saw
 * of each member every 250 ms and the box's log lines that mark the recovery's steps, in seconds
 * from the kill. `--keep-logs all` keeps every trial's logs (with course.txt), not only those.
 * Targets (issue 15): one-server loss p95 <= 15 s, majority loss p95 <= 45 s, every trial
 * restored, 0 lost, 0 split brain; a miss exits 1. Stock K3s:
 * never, without a person (a lost member stays until removed by hand; a lost quorum until
 * `k3s server --cluster-reset`).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'test/fixtures/control-plane-box.yaml');
const RESTORE_DEADLINE_MS = 180_000;
const SETTLE_DEADLINE_MS = 240_000;
/** The client writes this long before the kill, then on through it until the box is restored. */
const WRITE_BEFORE_MS = 2000;
/** A trial's course includes the box's log lines up to this long after the restore. */
const COURSE_AFTER_MS = 3000;
const COURSE_LEGEND =
  "course: seconds from the kill; `etcd <module>`/`etcd cluster`: the bench's own looks at each member (every 250 ms and more: a poll waits for every member's answer); `agent-`, `controller-`, `k3s-`: lines of the box's logs (at most 8 alike per file); `*`: after the restore";
const NS = 'default';
const LABEL = 'bench.edgebox.dev/control-plane';
const KINDS = ['one', 'majority'] as const;
type Kind = (typeof KINDS)[number];
/**
 * From the kill to 3 healthy voters with the API serving: issue 15's targets on the process engine,
 * issue 16's on real K3s servers (a K3s learner is promoted on K3s's own 15 s check, and a
 * `--cluster-reset` alone takes about 15 s).
 */
const TARGET_P95_S: Record<EngineName, Record<Kind, number>> = { process: { one: 15, majority: 45 }, k3s: { one: 20, majority: 60 } };

interface Options {
  trials: number;
  kinds: Kind[];
  trialsPerBox: number;
  /** Run one after the other, their figures side by side. */
  engines: EngineName[];
  /** Keep the box's logs of every trial (`--keep-logs all`), not only of those over target or in error. */
  keepAllLogs: boolean;
  /** Print each trial's course under it (`--course`); without, only trials over target or in error. */
  course: boolean;
}

const USAGE = '[--trials N] [--kinds one,majority] [--trials-per-box N] [--engine process,k3s] [--keep-logs all|slow] [--course]';

function parseArgs(argv: string[]): Options {
  const opts: Options = { trials: 10, kinds: [...KINDS], trialsPerBox: 5, engines: ['process'], keepAllLogs: false, course: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--course') {
      opts.course = true;
      continue;
    }
    const v = argv[++i] ?? '';
    if (a === '--engine') {
      const engines = v.split(',');
      if (!engines.every((e): e is EngineName => (ENGINES as readonly string[]).includes(e)))
        throw new Error(`--engine takes ${ENGINES.join(', ')} or both, comma-separated`);
      opts.engines = engines;
      continue;
    }
    if (a === '--keep-logs') {
      if (v !== 'all' && v !== 'slow') throw new Error('--keep-logs takes all or slow (the default: trials over target or in error)');
      opts.keepAllLogs = v === 'all';
      continue;
    }
    if (a === '--kinds') {
      const kinds = v.split(',');
      if (!kinds.every((k): k is Kind => (KINDS as readonly string[]).includes(k))) throw new Error(`--kinds takes ${KINDS.join(',')}`);
      opts.kinds = kinds;
      continue;
    }
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a whole number`);
    if (a === '--trials') opts.trials = n;
    else if (a === '--trials-per-box') opts.trialsPerBox = n;
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface MemberAnswer {
  module: string;
  cluster: string;
  voters: string[];
  /** The learners it lists (a server joining). */
  learners: string[];
  leader: boolean;
  /** Its own member is a learner. */
  learner: boolean;
  /** When its answer came (Date.now): the looks of one poll end at different times. */
  at: number;
}

/** Every module whose etcd member answers: its cluster id, the voters it lists, whether it follows a leader. */
async function members(state: BoxState): Promise<MemberAnswer[]> {
  const answers = await Promise.all(
    memberModules(state).map(async (module) => {
      const g = memberGateway(state, module, 1500);
      if (!g) return undefined;
      try {
        const [list, status] = await Promise.all([g.memberList(), g.status()]);
        return {
          module,
          cluster: status.clusterId,
          voters: list
            .filter((m) => !m.learner)
            .map((m) => nodeOfMember(m.name))
            .sort(),
          learners: list
            .filter((m) => m.learner)
            .map((m) => nodeOfMember(m.name) || m.id)
            .sort(),
          leader: status.leaderId !== undefined,
          learner: status.isLearner,
          at: Date.now(),
        };
      } catch {
        return undefined;
      }
    }),
  );
  return answers.filter((a): a is MemberAnswer => a !== undefined);
}

/** Split brain: members that answer disagree on the cluster id or on the voters (a stale member serving its own view). */
function splitBrain(answers: readonly MemberAnswer[]): string | undefined {
  const serving = answers.filter((a) => a.leader);
  const clusters = new Set(serving.map((a) => a.cluster));
  const views = new Set(serving.map((a) => a.voters.join(',')));
  if (clusters.size > 1 || views.size > 1) return serving.map((a) => `${a.module}: cluster ${a.cluster} voters [${a.voters.join(', ')}]`).join('; ');
  return undefined;
}

/** One step of a trial's course: ms after the kill, who saw it, what. */
interface Mark {
  ms: number;
  source: string;
  what: string;
}

/**
 * A trial's course, from the kill to the restore: the members as the bench's own looks saw them
 * (every 250 ms: a member starts or stops answering, gets or loses a leader, is a learner; the
 * voters and learners a member with a leader lists), and the lines of the box's logs that mark the
 * recovery's steps (courseFromLogs). Printed under each trial: where the time went.
 */
class Course {
  readonly marks: Mark[] = [];
  private readonly seen = new Map<string, string>();

  constructor(
    readonly t0: number,
    private readonly modules: readonly string[],
  ) {}

  /** Once per distinct text from a source (a look repeating what the last one saw is no step). */
  mark(source: string, what: string, at = Date.now()): void {
    if (this.seen.get(source) === what) return;
    this.seen.set(source, what);
    this.marks.push({ ms: at - this.t0, source, what });
  }

  members(answers: readonly MemberAnswer[]): void {
    const at = Date.now();
    for (const m of this.modules) {
      const a = answers.find((x) => x.module === m);
      this.mark(
        `etcd ${m}`,
        a ? `answers: ${a.learner ? 'learner' : 'member'}, ${a.leader ? 'has a leader' : 'NO leader'}, cluster ${a.cluster}` : 'does not answer',
        a?.at ?? at,
      );
    }
    const led = answers.find((a) => a.leader);
    if (led)
      this.mark(
        'etcd cluster',
        `voters [${led.voters.join(', ')}]${led.learners.length ? ` learners [${led.learners.join(', ')}]` : ''} (as ${led.module} lists them)`,
        led.at,
      );
  }

  /** The marks in time order, one line each; `untilMs`: the restore (later lines are marked). */
  lines(untilMs: number | undefined): string[] {
    return [...this.marks]
      .sort((a, b) => a.ms - b.ms)
      .map((m) => `${untilMs !== undefined && m.ms > untilMs ? '*' : ' '}${(m.ms / 1000).toFixed(1).padStart(6)} s  ${m.source.padEnd(16)} ${m.what}`);
  }
}

/**
 * Lines of the box's logs that mark a recovery's steps: the agents' role and quorum loops, the
 * guardian, and K3s's (etcd's publish, leader elections, learner promotion, "up and running",
 * fatal exits). Each pattern at most `PER_PATTERN` times per file, the rest counted.
 */
const LOG_MARKS: readonly RegExp[] = [
  /^role: member/,
  /^role: /,
  /^role loop waiting/,
  /^quorum/,
  /cluster reset to this module|the survivor reset the cluster|every server was off/,
  /^control-plane change|^control plane/,
  /published local member|failed to publish local member/,
  /elected leader|lost leader|became leader/,
  /ready to serve client requests/,
  /[Pp]romoted learner|[Pp]romote.*learner|promoted a member|added member|removed member/,
  /k3s is up and running|Starting etcd|Managed etcd cluster membership has been reset|Waiting for other members|etcd cluster join failed/,
  /leader changed|level=fatal|^F\d{4} /,
];
const PER_PATTERN = 8;
/** Fields of the agents' and controller's JSON lines worth a place in the course. */
const MARK_FIELDS = [
  'reason',
  'ms',
  'tookMs',
  'sinceLossMs',
  'change',
  'module',
  'member',
  'error',
  'message',
  'action',
  'retryInMs',
  'durationMs',
  'survivor',
  'running',
  'healthy',
  'leader',
];

/** The wall time of one log line (our JSON `time`, etcd's JSON `ts`, logrus `time="..."`, klog `I0509 07:31:22.123456`), with its text. */
function parseLogLine(line: string, year: number): { at: number; text: string } | undefined {
  if (line.startsWith('{')) {
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      const at = Date.parse(String(o.time ?? o.ts ?? ''));
      if (Number.isNaN(at)) return undefined;
      // An agent's own name is its file's; a controller's `module` is the module it acts on.
      const fields = MARK_FIELDS.filter((k) => o[k] !== undefined && !(k === 'module' && typeof o.component !== 'string'))
        .map((k) => `${k}=${typeof o[k] === 'string' ? (o[k] as string) : JSON.stringify(o[k])}`)
        .join(' ');
      return { at, text: `${String(o.msg ?? '')}${fields ? ` (${fields})` : ''}` };
    } catch {
      return undefined;
    }
  }
  const logrus = /^time="([^"]+)" level=(\w+) msg="(.*)"$/.exec(line);
  if (logrus) return { at: Date.parse(logrus[1]!), text: `${logrus[2] === 'info' ? '' : `${logrus[2]}: `}${logrus[3]!}` };
  const klog = /^([IWEF])(\d\d)(\d\d) (\d\d:\d\d:\d\d\.\d+)\s+\d+ (.*)$/.exec(line);
  if (klog) return { at: Date.parse(`${year}-${klog[2]}-${klog[3]}T${klog[4]}Z`), text: `${klog[1]} ${klog[5]!}` };
  return undefined;
}

async function courseFromLogs(dir: string, course: Course, toMs: number): Promise<void> {
  const logs = join(dir, 'logs');
  const files = (await readdir(logs).catch(() => [] as string[])).filter(
    (f) => f.endsWith('.log') && (f.startsWith('agent-') || f.startsWith('k3s-') || f.includes('controller')),
  );
  const year = new Date(course.t0).getUTCFullYear();
  for (const f of files.sort()) {
    const text = await readFile(join(logs, f), 'utf8').catch(() => '');
    const counts = new Map<number, number>();
    const source = f.replace(/\.log$/, '');
    for (const line of text.split('\n')) {
      const p = parseLogLine(line, year);
      if (!p || p.at < course.t0 - 1000 || p.at > course.t0 + toMs) continue;
      const i = LOG_MARKS.findIndex((r) => r.test(p.text));
      if (i < 0) continue;
      const n = (counts.get(i) ?? 0) + 1;
      counts.set(i, n);
      if (n <= PER_PATTERN) course.marks.push({ ms: p.at - course.t0, source, what: p.text.slice(0, 220) });
    }
    for (const [i, n] of counts)
      if (n > PER_PATTERN) course.marks.push({ ms: toMs, source, what: `(${n - PER_PATTERN} more lines like ${LOG_MARKS[i]!.source})` });
  }
}

/** 3 voters, each answering with a leader, none killed, and the API serving. */
async function restored(kc: KubeConfig, state: BoxState, killed: readonly string[], course?: Course): Promise<boolean> {
  const answers = await members(state);
  course?.members(answers);
  const withLeader = answers.filter((a) => a.leader);
  const voters = withLeader[0]?.voters ?? [];
  if (voters.length !== 3 || voters.some((v) => killed.includes(v))) return false;
  if (!voters.every((v) => withLeader.some((a) => a.module === v))) return false;
  try {
    await kc.makeApiClient(CoreV1Api).listNamespacedConfigMap({ namespace: NS, labelSelector: LABEL, limit: 1 });
    return true;
  } catch {
    course?.mark('bench', 'API list through the box address fails');
    return false;
  }
}

async function controlPlane(kc: KubeConfig, box: string): Promise<ControlPlaneStatus | undefined> {
  const o = (await kc
    .makeApiClient(CustomObjectsApi)
    .getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name: box })
    .catch(() => undefined)) as { status?: { controlPlane?: ControlPlaneStatus } } | undefined;
  return o?.status?.controlPlane;
}

/** Settled: 3 healthy voters in the status, nothing pending, no node fenced or with a role change asked. */
async function settled(kc: KubeConfig, box: string): Promise<boolean> {
  const cp = await controlPlane(kc, box);
  if (!cp || cp.pending || cp.voters.length !== 3 || !cp.voters.every((v) => v.healthy)) return false;
  const nodes = await kc
    .makeApiClient(CoreV1Api)
    .listNode({ labelSelector: `${LABELS.box}=${box}` })
    .catch(() => undefined);
  if (!nodes) return false;
  return nodes.items.every((n) => {
    const a = n.metadata?.annotations ?? {};
    return a[FENCE_ANNOTATIONS.fenceMethod] === undefined && a[A.desiredRole] === undefined && a[A.etcdRemove] === undefined;
  });
}

async function waitFor(what: string, deadlineMs: number, check: () => Promise<boolean>, everyMs = 250): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - t0;
    if (Date.now() - t0 > deadlineMs) throw new Error(`${what}: not within ${deadlineMs / 1000} s`);
    await sleep(everyMs);
  }
}

interface Trial {
  engine: EngineName;
  kind: Kind;
  killed: string[];
  restoreMs?: number;
  lost: number;
  /** Acknowledged writes of the box so far, those in flight during the kill included. */
  acked?: number;
  splitBrain?: string | undefined;
  /** K3s snapshot files there before the kill and missing (or changed) once the box settled again. */
  snapshotsLost: string[];
  /** How many of them were there before the kill. */
  snapshotsKept?: number;
  error?: string;
  /** Where the box's logs were kept (a trial over its target or in error, or every trial with --keep-logs all). */
  logs?: string;
  /** The trial's course, one line per step (Course.lines). */
  course?: string[];
}

/**
 * Every K3s snapshot file of every module (`server/db/snapshots`), with its size: none may go
 * missing or change (the issue's rule: edgebox never deletes one). Empty on the process engine.
 */
async function snapshotFiles(state: BoxState): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of Object.keys(state.k3s?.network.members ?? {})) {
    const dir = join(k3sPaths(state.dir, m).dataDir, 'server', 'db', 'snapshots');
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      const size = await stat(join(dir, f)).then(
        (x) => (x.isDirectory() ? -1 : x.size),
        () => undefined,
      );
      if (size !== undefined) out.set(`${m}/${f}`, size);
    }
  }
  return out;
}

/** Copies the box's logs out of the box directory, which the next box replaces. */
async function keepLogs(dir: string, trial: string): Promise<string> {
  const to = join(tmpdir(), `edgebox-bench-cp-logs-${process.pid}`, trial);
  await cp(join(dir, 'logs'), to, { recursive: true });
  return to;
}

class BenchBox {
  kc!: KubeConfig;
  state!: BoxState;
  /** Writes before, during and after every kill of this box (the API answers some, not all). */
  writer!: AckedWriter;

  constructor(
    readonly dir: string,
    readonly name: string,
    readonly engine: EngineName,
  ) {}

  async start(): Promise<void> {
    const { box } = await loadSpec(FIXTURE);
    const r = await up(FIXTURE, {
      dir: this.dir,
      timings: 'tuned',
      withAgents: true,
      withController: true,
      controllers: 1,
      engine: this.engine,
      agentPort: await freeUdpPortOn(Object.values(localAddresses(box))),
    });
    this.kc = loadKubeConfig({ path: r.kubeconfig });
    this.state = (await readState(this.dir))!;
    await applyBox({ box, cluster: new Cluster(this.kc) });
    await waitFor('3 healthy voters after up', SETTLE_DEADLINE_MS, () => settled(this.kc, this.name), 1000);
    this.writer = new AckedWriter(this.kc, { namespace: NS, label: `${LABEL}=true`, prefix: 'cp' });
  }

  async trial(kind: Kind): Promise<Trial> {
    this.writer.start();
    await sleep(WRITE_BEFORE_MS);
    const answers = await members(this.state);
    const voters = answers.find((a) => a.leader)?.voters ?? [];
    // Fewest fences first: a module fenced again soon waits longer before it rejoins (#4's backoff).
    const nodes = (await this.kc.makeApiClient(CoreV1Api).listNode({ labelSelector: `${LABELS.box}=${this.name}` })).items;
    const fences = (m: string) => Number(nodes.find((n) => n.metadata?.name === m)?.metadata?.annotations?.[FENCE_ANNOTATIONS.fenceCount] ?? 0);
    const killed = [...voters].sort((a, b) => fences(a) - fences(b) || a.localeCompare(b)).slice(0, kind === 'one' ? 1 : 2);
    const result: Trial = { engine: this.engine, kind, killed, lost: 0, snapshotsLost: [] };
    const snapshotsBefore = await snapshotFiles(this.state);
    const t0 = Date.now();
    const course = new Course(t0, memberModules(this.state));
    await Promise.all(killed.map((m) => killModule(this.dir, m)));
    course.mark('bench', `killed ${killed.join(' and ')} (SIGKILL: a power cut)`);
    try {
      await waitFor('3 healthy voters and the API', RESTORE_DEADLINE_MS, () => restored(this.kc, this.state, killed, course));
      result.restoreMs = Date.now() - t0;
      course.mark('bench', 'restored: 3 voters answering with a leader, none killed, the API serving');
    } catch (e) {
      result.error = (e as Error).message;
    }
    await this.writer.stop();
    result.acked = this.writer.acked.size;
    result.splitBrain = splitBrain(await members(this.state));
    if (result.restoreMs !== undefined) result.lost = (await this.writer.lost()).length;
    // The logs a little past the restore: the reports and the guardian's bookkeeping that follow it.
    const courseMs = (result.restoreMs ?? Date.now() - t0) + COURSE_AFTER_MS;
    await sleep(t0 + courseMs - Date.now());
    await courseFromLogs(this.dir, course, courseMs);
    result.course = course.lines(result.restoreMs);
    try {
      await Promise.all(killed.map((m) => reviveModule(this.dir, m)));
      await waitFor('the box settled after the revive', SETTLE_DEADLINE_MS, () => settled(this.kc, this.name), 1000);
    } catch (e) {
      result.error ??= `after the restore: ${(e as Error).message}`;
    }
    result.splitBrain ??= splitBrain(await members(this.state));
    const after = await snapshotFiles(this.state);
    result.snapshotsLost = [...snapshotsBefore].filter(([f, size]) => after.get(f) !== size).map(([f]) => f);
    result.snapshotsKept = snapshotsBefore.size - result.snapshotsLost.length;
    return result;
  }

  async stop(): Promise<void> {
    await down(this.dir);
  }
}

async function main(opts: Options): Promise<void> {
  const { box } = await loadSpec(FIXTURE);
  const results: Trial[] = [];
  let legendShown = false;
  for (const engine of opts.engines) {
    log(
      `bench:control-plane: ${opts.trials} trial(s) of ${opts.kinds.join(' and ')} loss, a fresh box every ${opts.trialsPerBox} trials (${FIXTURE}), engine ${engine}${engine === 'k3s' ? " (real k3s server processes, the agents' k3s role driver)" : " (upstream etcd + kube-apiserver, the agents' process role driver)"}`,
    );
    for (const kind of opts.kinds) {
      let bench: BenchBox | undefined;
      let dir: string | undefined;
      try {
        for (let i = 0; i < opts.trials; i++) {
          if (!bench || i % opts.trialsPerBox === 0) {
            if (bench) await bench.stop();
            if (dir) await rm(dir, { recursive: true, force: true });
            dir = await mkdtemp(join(tmpdir(), 'edgebox-bench-cp-'));
            bench = new BenchBox(dir, box.metadata.name, engine);
            await bench.start();
            if (!results.some((r) => r.engine === engine)) for (const line of describeSimulation(bench.state, [FAULTS.killServers])) log(`  ${line}`);
          }
          const r = await bench.trial(kind);
          results.push(r);
          // A trial over its target or in error keeps the box's logs: the box is removed after.
          const slow = r.error !== undefined || (r.restoreMs ?? Infinity) > TARGET_P95_S[engine][kind] * 1000;
          if (slow || opts.keepAllLogs) {
            r.logs = await keepLogs(bench.dir, `${engine}-${kind}-${i + 1}`);
            await writeFile(join(r.logs, 'course.txt'), `${(r.course ?? []).join('\n')}\n`);
          }
          log(
            `  ${kind.padEnd(8)} ${String(i + 1).padStart(2)} killed ${r.killed.join('+').padEnd(6)} restored ${s(r.restoreMs)}  acked ${r.acked ?? 0}  lost ${r.lost}${r.engine === 'k3s' ? `  snapshots ${r.snapshotsKept ?? 0} kept${r.snapshotsLost.length ? `, LOST ${r.snapshotsLost.join(' ')}` : ''}` : ''}${r.splitBrain ? `  SPLIT BRAIN ${r.splitBrain}` : ''}${r.error ? `  ERROR ${r.error}` : ''}${r.logs ? `  logs ${r.logs}` : ''}`,
          );
          if (slow || opts.course) {
            if (!legendShown) log(`      ${COURSE_LEGEND}`);
            legendShown = true;
            for (const line of r.course ?? []) log(`      ${line}`);
          }
          // A box that did not settle is no start for the next trial.
          if (r.error) {
            await bench.stop();
            bench = undefined;
          }
        }
      } finally {
        await bench?.stop().catch(() => undefined);
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    }
  }
  report(results, opts);
}

const inMs = (seconds: number | undefined) => (seconds === undefined ? undefined : seconds * 1000);

function report(results: readonly Trial[], opts: Options): void {
  const restored = (engine: EngineName, kind: Kind) =>
    results.flatMap((r) => (r.engine === engine && r.kind === kind && r.restoreMs !== undefined ? [r.restoreMs / 1000] : [])).sort((a, b) => a - b);
  const of = (engine: EngineName) => results.filter((r) => r.engine === engine);
  log('');
  log('time from the kill to 3 healthy voters with the API serving, by engine:');
  log(
    `  ${'engine'.padEnd(9)}${'loss'.padEnd(10)}${'n'.padStart(4)}${'restored'.padStart(10)}${'p50'.padStart(10)}${'p95'.padStart(10)}${'max'.padStart(10)}${'lost'.padStart(7)}${'split'.padStart(7)}`,
  );
  for (const engine of opts.engines) {
    for (const kind of opts.kinds) {
      const rs = of(engine).filter((r) => r.kind === kind);
      const xs = restored(engine, kind);
      log(
        `  ${engine.padEnd(9)}${kind.padEnd(10)}${String(rs.length).padStart(4)}${`${xs.length}/${rs.length}`.padStart(10)}${s(inMs(percentile(xs, 50))).padStart(10)}${s(inMs(percentile(xs, 95))).padStart(10)}${s(inMs(xs.at(-1))).padStart(10)}${String(rs.reduce((n, r) => n + r.lost, 0)).padStart(7)}${String(rs.filter((r) => r.splitBrain).length).padStart(7)}`,
      );
    }
    log(
      `  ${engine}: trials whose box did not settle after the revive (the next trial starts a fresh box): ${of(engine).filter((r) => r.restoreMs !== undefined && r.error).length}`,
    );
  }
  log('stock K3s: never, without a person (the dead member stays until removed by hand; a lost quorum needs `k3s server --cluster-reset`)');
  reportTargets(
    opts.engines.flatMap((engine) => [
      ...opts.kinds.map((kind) => ({
        name: `${engine}: ${kind === 'one' ? 'one-server' : 'majority'} loss -> 3 healthy voters, p95`,
        measured: percentile(restored(engine, kind), 95),
        bound: TARGET_P95_S[engine][kind],
        unit: 's',
        comparison: '<=' as const,
      })),
      {
        name: `${engine}: trials not restored within ${RESTORE_DEADLINE_MS / 1000} s`,
        measured: of(engine).filter((r) => r.restoreMs === undefined).length,
        bound: 0,
        unit: '',
        comparison: '=' as const,
      },
      { name: `${engine}: acknowledged objects lost`, measured: of(engine).reduce((n, r) => n + r.lost, 0), bound: 0, unit: '', comparison: '=' as const },
      ...(engine === 'k3s'
        ? [
            {
              name: `${engine}: K3s snapshot files lost or changed`,
              measured: of(engine).reduce((n, r) => n + r.snapshotsLost.length, 0),
              bound: 0,
              unit: '',
              comparison: '=' as const,
            },
          ]
        : []),
      {
        name: `${engine}: trials with two clusters (split brain)`,
        measured: of(engine).filter((r) => r.splitBrain).length,
        bound: 0,
        unit: '',
        comparison: '=' as const,
      },
    ]),
  );
}

await runBench('bench:control-plane', USAGE, parseArgs, main);
