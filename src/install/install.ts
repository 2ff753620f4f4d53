import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { backoffMs } from '../base/backoff.js';
import { withTimeout } from '../base/timeout.js';
import { etcdGateway } from '../agent/role/etcd-gateway.js';
import { ETCD_TLS_DIR, K3S_ETCD_PORT } from '../agent/role/k3s-plan.js';
import { Cluster } from '../apply/cluster.js';
import { kindInfo } from '../apply/kinds.js';
import { agentServiceAccount } from '../contract/identity.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { EdgeboxError, failure, hasErrors, inputError, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { MemberInfo } from '../contract/role-driver.js';
import { AGENT_KUBECONFIG_PATH, AGENT_SECRET_PATH } from '../render/agent-unit.js';
import { BMC_SECRET, COMPONENT_LABEL, EDGEBOX_VERSION } from '../render/controller.js';
import { renderClusterObjects } from '../render/cluster-objects.js';
import { KUBE_VIP_KUBECONFIG_PATH, KUBE_VIP_NAME, KUBE_VIP_NAMESPACE } from '../render/kube-vip.js';
import { API_PORT, joinUrl, TOKEN_FILE } from '../render/k3s-config.js';
import { parseK3sVersion } from '../local/engine/k3s-build.js';
import { cacheRoot } from '../local/cache.js';
import { mintAgentToken, mintToken } from '../kube/agent-token.js';
import { isNotFound } from '../kube/client.js';
import { loadSpec } from '../spec/load.js';
import { specLocator } from '../spec/locate.js';
import type { BoxSpec } from '../spec/schema.js';
import { drain, uncordon } from './drain.js';
import { nodeReadyOn } from './node-ready.js';
import { checkReleaseVersion, k3sRelease } from './k3s-release.js';
import { LocalDigests } from './local-digests.js';
import { SHIPPED_ARTIFACTS_DIR, shippedArtifact } from './shipped-artifacts.js';
import { bmcEnvText, type BmcInputs } from './bmc.js';
import { boxUsesBmc } from '../power/drivers.js';
import { CLOCK_COMMAND, kubeArch, parseFacts, PROBE_SCRIPT, type ModuleFacts } from './facts.js';
import { agentMarker, describeStep, managedPaths, planInstall, type InstallInputs, type InstallPlan, type Phase, type SecretName, type Step } from './plan.js';
import { planUpgrade } from './upgrade-plan.js';
import { preflight, type Reach } from './preflight.js';
import { connect, SshConnectError, type SshSession } from './ssh.js';

const run = promisify(execFile);
type Arch = 'arm64' | 'amd64';

export interface InstallOptions extends SshOptions {
  specFile: string;
  /** K3s binaries, one per architecture the box has. */
  k3sBinaries: string[];
  /** Instead of k3sBinaries: the official release of this version (true: spec.k3s.version), downloaded (k3s-release.ts). */
  k3sVersion?: string | true;
  /** A mirror of K3s's releases for k3sVersion. */
  k3sReleaseUrl?: string;
  /** The BMC login (from EDGEBOX_BMC_USERNAME and EDGEBOX_BMC_PASSWORD) and certificate, for the agents and the controller. */
  bmc?: BmcInputs;
  /** A directory of image archives for K3s's airgap import (.tar, .tar.gz, .tar.zst). */
  airgapImages?: string;
  ignoreK3sVersion: boolean;
  dryRun: boolean;
  /** Where the agent's artefacts are built and kept (default ~/.cache/edgebox). */
  cache?: string;
  /** The repository root, for the agent's bundle. */
  root: string;
  /** How long a gate (API ready, voter) may take. Default 5 min. */
  gateTimeoutMs?: number;
}

export interface StepReport {
  module: string;
  step: string;
  ms?: number;
}

export interface InstallReport {
  box: string;
  dryRun: boolean;
  /** Nothing needed doing. */
  unchanged: boolean;
  phases: { name: string; steps: StepReport[]; ms?: number }[];
  notes: { module: string; message: string }[];
  diagnostics: Diagnostic[];
  ms: number;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** ELF e_machine: which architecture a binary is for, without running it. */
async function elfArch(path: string): Promise<Arch | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(20);
    await fh.read(head, 0, 20, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const machine = head.readUInt16LE(18);
    return machine === 0xb7 ? 'arm64' : machine === 0x3e ? 'amd64' : undefined;
  } finally {
    await fh.close();
  }
}

/** `k3s --version`, run here (or under qemu-user for the other architecture). */
async function k3sVersion(path: string, arch: Arch): Promise<string> {
  const native = (process.arch === 'arm64' ? 'arm64' : 'amd64') === arch;
  const [cmd, args] = native ? [path, ['--version']] : [arch === 'arm64' ? 'qemu-aarch64' : 'qemu-x86_64', [path, '--version']];
  try {
    const { stdout } = await run(cmd, args, { timeout: 60_000 });
    const v = parseK3sVersion(stdout);
    if (v) return v;
  } catch {
    // below
  }
  throw inputError(
    'install.k3s-binary',
    `${path} does not answer \`--version\` as K3s does${native ? '' : ` (run under ${cmd})`}`,
    `pass a K3s binary (the release's k3s or k3s-arm64)${native ? '' : `; install qemu-user to read the version of a binary for ${arch}`}`,
  );
}

interface K3sBinary {
  path: string;
  sha256: string;
  version: string;
}

async function inspectBinaries(paths: readonly string[], digests: LocalDigests): Promise<Partial<Record<Arch, K3sBinary>>> {
  const out: Partial<Record<Arch, K3sBinary>> = {};
  for (const path of paths) {
    const arch = await elfArch(path).catch(() => {
      throw inputError('install.k3s-binary', `cannot read ${path}`, 'pass the path of a K3s binary with --k3s-binary');
    });
    if (!arch) throw inputError('install.k3s-binary', `${path} is not a Linux binary for arm64 or amd64`, 'pass the release binary: k3s (amd64) or k3s-arm64');
    if (out[arch])
      throw inputError('install.k3s-binary', `two K3s binaries for ${arch}: ${out[arch].path} and ${path}`, 'pass one --k3s-binary per architecture');
    const known = await digests.of(path, () => k3sVersion(path, arch));
    out[arch] = { path, sha256: known.sha256, version: known.version! };
  }
  return out;
}

const IMAGE_ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.zst)$/;

/** The archives of an airgap images directory, as K3s imports them (by file extension). */
async function airgapImages(dir: string, digests: LocalDigests): Promise<{ name: string; path: string; sha256: string }[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => IMAGE_ARCHIVE.test(n)).sort();
  } catch (e) {
    throw inputError(
      'install.airgap-images',
      `cannot read ${dir}: ${(e as Error).message}`,
      'pass a directory of image archives (.tar, .tar.gz, .tar.zst) with --airgap-images',
    );
  }
  if (names.length === 0)
    throw inputError(
      'install.airgap-images',
      `${dir} holds no image archive (.tar, .tar.gz, .tar.zst)`,
      "put K3s's k3s-airgap-images-<arch>.tar.zst (and the controller's edgebox-<version>.oci.tar) there",
    );
  return Promise.all(names.map(async (name) => ({ name, path: join(dir, name), sha256: (await digests.of(join(dir, name))).sha256 })));
}

async function probe(s: SshSession, paths: readonly string[]): Promise<ModuleFacts> {
  const sentAt = Date.now();
  const clock = await s.exec(CLOCK_COMMAND, { timeoutMs: 10_000 });
  const receivedAt = Date.now();
  const r = await s.exec(`sh -s -- ${paths.map((p) => `'${p}'`).join(' ')}`, { stdin: PROBE_SCRIPT, timeoutMs: 30_000 });
  return parseFacts(`${r.stdout}\nclock_ms=${clock.stdout.trim()}`, sentAt, receivedAt);
}

/**
 * The token and the box secret: each is made once, then read back from the modules that have it,
 * so a re-run, or a run that died after writing it to some modules, keeps the same value. Two
 * modules with different values are a box that two installs touched: refuse.
 */
async function resolveSecret(sessions: ReadonlyMap<string, SshSession>, facts: ReadonlyMap<string, ModuleFacts>, path: string, what: string): Promise<string> {
  const holders = [...facts].filter(([, f]) => f.files[path]);
  const digests = new Set(holders.map(([, f]) => f.files[path]));
  if (digests.size > 1)
    throw failure(
      'install.secret-differs',
      `the modules hold different ${what}s in ${path} (${holders.map(([m]) => m).join(', ')})`,
      `the box was installed twice with different values: keep one (copy it, mode 0600, to every module) and run install again`,
    );
  if (holders.length === 0) return `${randomBytes(32).toString('hex')}\n`;
  const value = await sessions.get(holders[0]![0])!.readFile(path);
  if (!value) throw failure('install.secret-unreadable', `cannot read ${path} on ${holders[0]![0]}`, `check that ${path} is readable by the SSH user`);
  return value.toString('utf8');
}

export interface SshOptions {
  user: string;
  keyPath: string;
  sshPort?: number;
  progress(line: string): void;
}

/** Connects to every module of the box side by side and probes it; `sessions` gets each open connection. */
export async function reachModules(box: BoxSpec, o: SshOptions, sessions: Map<string, SshSession>, paths: readonly string[]): Promise<Map<string, Reach>> {
  o.progress(`connecting to ${box.spec.modules.length} modules over SSH as ${o.user}`);
  const reach = new Map<string, Reach>();
  await Promise.all(
    box.spec.modules.map(async (m) => {
      try {
        const s = await connect({ module: m.name, address: m.address, user: o.user, keyPath: o.keyPath, ...(o.sshPort ? { port: o.sshPort } : {}) });
        sessions.set(m.name, s);
        reach.set(m.name, { ok: true, facts: await probe(s, paths) });
      } catch (e) {
        if (e instanceof SshConnectError) reach.set(m.name, { ok: false, failure: e.failure });
        else reach.set(m.name, { ok: false, failure: { kind: 'unreachable', message: `${m.address}: ${(e as Error).message}` } });
      }
    }),
  );
  return reach;
}

export interface Gates {
  timeoutMs: number;
  progress(line: string): void;
}

/** Retries `check` with the one capped backoff until it says done, or the gate times out. */
/**
 * How long one request of install's own to a module's API server or etcd may take: a server that
 * lost its quorum (or a tunnel whose module rebooted) hangs rather than fails, and a gate or step
 * waiting on it would never report. Generous: the requests go through SSH to a loaded module.
 */
const REQUEST_TIMEOUT_MS = 30_000;

/** Until `check` is true, retried with the capped backoff; each try bounded by `tryTimeoutMs`. */
async function waitFor(what: string, gates: Gates, check: () => Promise<string | true>, tryTimeoutMs = REQUEST_TIMEOUT_MS): Promise<void> {
  const start = Date.now();
  let failures = 0;
  let nextReport = 2000;
  for (;;) {
    const last = await withTimeout(check(), tryTimeoutMs, what).catch((e: Error) => e.message);
    if (last === true) return;
    const elapsed = Date.now() - start;
    if (elapsed > gates.timeoutMs)
      throw failure(
        'install.gate-timeout',
        `${what}: not within ${gates.timeoutMs / 1000} s (last: ${last})`,
        'see the journal of the unit on the module; install resumes from here when run again',
      );
    if (elapsed >= nextReport) {
      gates.progress(`  ${what}: waiting (${(elapsed / 1000).toFixed(0)} s; ${last})`);
      nextReport += 10_000;
    }
    await new Promise((r) => setTimeout(r, backoffMs(++failures, { initialMs: 250, maxMs: 2000 }, Math.random())));
  }
}

const ADMIN_KUBECONFIG = '/etc/rancher/k3s/k3s.yaml';

/** The server's admin kubeconfig, through an SSH tunnel to its own 127.0.0.1:6443 (in K3s's certificate whatever the network). */
async function adminKubeConfig(s: SshSession): Promise<KubeConfig> {
  const text = await s.readFile(ADMIN_KUBECONFIG);
  if (!text) throw new Error(`${ADMIN_KUBECONFIG} not written yet`);
  const port = await s.forward(API_PORT);
  const kc = new KubeConfig();
  kc.loadFromString(text.toString('utf8').replace(/server: https:\/\/[^\s]+/, `server: https://127.0.0.1:${port}`));
  return kc;
}

function kubeconfigText(o: { cluster: string; server: string; caData: string; user: string; token: string; namespace: string }): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: o.cluster, cluster: { server: o.server, 'certificate-authority-data': o.caData } }],
    users: [{ name: o.user, user: { token: o.token } }],
    contexts: [{ name: o.cluster, context: { cluster: o.cluster, user: o.user, namespace: o.namespace } }],
    'current-context': o.cluster,
  });
}

/** A year: a module's agent must outlive long power-offs; `edgebox install` run again mints a new one when the file is gone. */
const AGENT_TOKEN_SECONDS = 365 * 24 * 3600;

interface Executor {
  box: BoxSpec;
  /** The running server whose API drains and identities go through. */
  through?: string;
  sessions: ReadonlyMap<string, SshSession>;
  secrets: Partial<Record<SecretName, string>> & { token: string; 'box-secret': string };
  bmc?: BmcInputs;
  gates: Gates;
  admin?: KubeConfig;
}

async function exec(x: Executor, step: Step): Promise<void> {
  const s = x.sessions.get(step.module)!;
  const sh = async (command: string, timeoutMs?: number) => {
    const r = await s.exec(command, timeoutMs ? { timeoutMs } : {});
    if (r.code !== 0)
      throw failure(
        'install.step-failed',
        `${step.module}: \`${command}\` failed (exit ${r.code}): ${r.stderr.trim().slice(-500)}`,
        'fix the cause on the module, then run install again: it resumes',
      );
    return r.stdout;
  };
  switch (step.kind) {
    case 'write': {
      const src = step.file.source;
      if (src.kind === 'text') await s.writeFile(step.file.path, src.text, step.file.mode);
      else if (src.kind === 'secret') await s.writeFile(step.file.path, x.secrets[src.name]!, step.file.mode);
      else await s.upload(src.path, step.file.path, step.file.mode);
      return;
    }
    case 'unpack':
      // The marker last: a runtime cut short by a dropped link is unpacked again on the next run.
      await sh(`set -e; tar -xzf '${step.archive}' -C /; printf '%s\\n' '${step.sha256}' > '${agentMarker(step.version)}'`, 300_000);
      return;
    case 'start': {
      // A start install decided (the module's first, or finishing its own join): the may-start flag
      // lets it through render's drop-in. A first start does not block (--no-block): K3s is
      // Type=notify, and a joining server is ready only once it joined; the gates wait, with
      // progress. A restart blocks until the new process reports ready, so the gate after it can
      // never be passed by the old process still answering (a second voter down at once).
      const allow = step.unit === 'k3s' ? 'mkdir -p /run/edgebox; touch /run/edgebox/k3s-may-start; ' : '';
      const verb = step.restart ? 'restart' : 'start --no-block';
      await sh(`set -e; ${allow}systemctl daemon-reload; systemctl enable ${step.unit}; systemctl ${verb} ${step.unit}`, x.gates.timeoutMs);
      return;
    }
    case 'wait-api':
      await waitFor(`${step.module}: API server ready`, x.gates, async () => {
        const kc = await adminKubeConfig(s);
        const core = kc.makeApiClient(CoreV1Api);
        await core.listNamespace({ limit: 1 });
        return true;
      });
      return;
    case 'wait-voter': {
      let port: number | undefined;
      await waitFor(`${step.module}: etcd member a voter`, x.gates, async () => {
        const files = await Promise.all(['server-ca.crt', 'client.crt', 'client.key'].map((f) => s.readFile(`${ETCD_TLS_DIR}/${f}`)));
        if (files.some((f) => !f)) return 'no etcd certificates yet';
        port ??= await s.forward(K3S_ETCD_PORT);
        const [ca, cert, key] = files as Buffer[];
        const status = await etcdGateway({ endpoint: `https://127.0.0.1:${port}`, tls: () => Promise.resolve({ ca: ca!, cert: cert!, key: key! }) }).status();
        if (status.isLearner) return 'a learner';
        if (!status.leaderId) return 'no leader';
        return true;
      });
      return;
    }
    case 'apply': {
      x.admin ??= await adminKubeConfig(s);
      const cluster = new Cluster(x.admin);
      // What the agents, the controller and kube-vip need: their namespace, identities, RBAC, the
      // admission policy, the CRD and the controller. The workloads are `edgebox apply`'s.
      const objects = renderClusterObjects(x.box)
        .filter((o) => o.kind === 'CustomResourceDefinition' || ['controller', 'agent', KUBE_VIP_NAME].includes(o.metadata.labels?.[COMPONENT_LABEL] ?? ''))
        .sort((a, b) => kindInfo(a).order - kindInfo(b).order);
      for (const o of objects)
        await withTimeout(
          cluster.apply(o, { dryRun: false, force: true }),
          REQUEST_TIMEOUT_MS,
          `apply ${o.kind} ${o.metadata.name} through ${x.through ?? step.module}`,
        );
      return;
    }
    case 'snapshot':
      await sh(`k3s etcd-snapshot save --name edgebox-before-upgrade`, 180_000);
      return;
    case 'drain':
    case 'uncordon': {
      const kc = (x.admin ??= await adminKubeConfig(x.sessions.get(x.through ?? step.module)!));
      // Retried, whole (both are idempotent): the server these requests go through may have been
      // restarted by this upgrade a moment ago, and its first connections fail ("socket
      // disconnected before secure TLS connection", seen here on the uncordon after a restart).
      if (step.kind === 'uncordon') {
        await waitFor(`${step.module}: uncordon`, x.gates, async () => (await uncordon(kc, step.module), true));
        return;
      }
      let result: Awaited<ReturnType<typeof drain>> | undefined;
      const drained = async () => ((result = await drain(kc, step.module, { ...x.gates, requestTimeoutMs: REQUEST_TIMEOUT_MS })), true as const);
      await waitFor(`${step.module}: drain`, x.gates, drained, x.gates.timeoutMs);
      if (result === 'no-node') x.gates.progress(`  ${step.module}: no Node object (K3s runs without its agent here): nothing to drain`);
      return;
    }
    case 'wait-node': {
      const kc = (x.admin ??= await adminKubeConfig(x.sessions.get(x.through ?? step.module)!));
      const core = kc.makeApiClient(CoreV1Api);
      let absent = false;
      await waitFor(`${step.module}: node Ready on ${step.version}`, x.gates, async () => {
        const node = await core.readNode({ name: step.module }).catch((e: unknown) => {
          if (isNotFound(e)) return undefined;
          throw e;
        });
        if (!node) {
          if (step.required) return 'no Node object yet';
          absent = true;
          return true;
        }
        return nodeReadyOn(node, step.version);
      });
      if (absent) x.gates.progress(`  ${step.module}: no Node object (K3s runs without its agent here): no kubelet to wait for`);
      return;
    }
    case 'bmc-secret': {
      x.admin ??= await adminKubeConfig(s);
      const b = x.bmc!;
      const secret = {
        metadata: { name: BMC_SECRET, namespace: SYSTEM_NAMESPACE, labels: { [COMPONENT_LABEL]: 'controller' } },
        type: 'Opaque',
        stringData: { username: b.username, password: b.password, ...(b.ca ? { 'ca.crt': b.ca } : {}) },
      };
      const core = x.admin.makeApiClient(CoreV1Api);
      // Replaced whole: a certificate dropped since must not stay.
      await withTimeout(
        core.replaceNamespacedSecret({ name: BMC_SECRET, namespace: SYSTEM_NAMESPACE, body: secret }).catch((e: unknown) => {
          if (!isNotFound(e)) throw e;
          return core.createNamespacedSecret({ namespace: SYSTEM_NAMESPACE, body: secret });
        }),
        REQUEST_TIMEOUT_MS,
        `the Secret ${BMC_SECRET} through ${step.module}`,
      );
      return;
    }
    case 'kube-vip-kubeconfig': {
      x.admin ??= await adminKubeConfig(x.sessions.get(step.through)!);
      const account = { namespace: KUBE_VIP_NAMESPACE, name: KUBE_VIP_NAME };
      const token = await withTimeout(
        mintToken(x.admin.makeApiClient(CoreV1Api), account, AGENT_TOKEN_SECONDS, `see the K3s journal of ${step.through}`),
        REQUEST_TIMEOUT_MS,
        `a token for ${KUBE_VIP_NAME} through ${step.through}`,
      );
      const caData = x.admin.getCurrentCluster()?.caData ?? '';
      // The module's own API server, never the address kube-vip holds (render's README says why).
      const text = kubeconfigText({
        cluster: x.box.metadata.name,
        server: `https://127.0.0.1:${API_PORT}`,
        caData,
        user: KUBE_VIP_NAME,
        token,
        namespace: KUBE_VIP_NAMESPACE,
      });
      await s.writeFile(KUBE_VIP_KUBECONFIG_PATH, text, 0o600);
      return;
    }
    case 'agent-kubeconfig': {
      x.admin ??= await adminKubeConfig(x.sessions.get(step.through)!);
      const token = await withTimeout(
        mintAgentToken(x.admin.makeApiClient(CoreV1Api), step.module, AGENT_TOKEN_SECONDS, `see the K3s journal of ${step.through}`),
        REQUEST_TIMEOUT_MS,
        `a token for ${step.module}'s agent through ${step.through}`,
      );
      const caData = x.admin.getCurrentCluster()?.caData ?? '';
      const text = kubeconfigText({
        cluster: x.box.metadata.name,
        server: joinUrl(x.box),
        caData,
        user: agentServiceAccount(step.module),
        token,
        namespace: SYSTEM_NAMESPACE,
      });
      await s.writeFile(AGENT_KUBECONFIG_PATH, text, 0o600);
      return;
    }
  }
}

/** Runs a phase: in order, or each module's steps in order with the modules side by side. */
async function runPhase(x: Executor, phase: Phase, progress: (l: string) => void): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  const one = async (step: Step) => {
    const start = Date.now();
    progress(`[${step.module}] ${describeStep(step)}`);
    await exec(x, step);
    reports.push({ module: step.module, step: describeStep(step), ms: Date.now() - start });
  };
  if (!phase.parallel) {
    for (const step of phase.steps) await one(step);
    return reports;
  }
  const byModule = new Map<string, Step[]>();
  for (const s of phase.steps) byModule.set(s.module, [...(byModule.get(s.module) ?? []), s]);
  const results = await Promise.allSettled(
    [...byModule.values()].map(async (steps) => {
      for (const s of steps) await one(s);
    }),
  );
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (failed.length) throw failed[0];
  return reports;
}

/** Exit 2 for what the user gave wrong (a key the modules refuse, the spec's hardware, the binary), 1 for the modules' state. */
const INPUT_CODES = new Set([
  'install.ssh-key',
  'install.ssh-auth',
  'install.ssh-sudo',
  'install.arch-mismatch',
  'install.memory-mismatch',
  'install.k3s-version',
  'install.no-k3s-binary',
]);

/** The release binaries for the architectures of the modules reached (preflight names the others). */
/**
 * The agent's artefact for `arch`: built from this checkout, which has the development
 * dependencies (its code may have changed since any artefact was shipped); from an installed
 * package, which cannot build one, the one it ships.
 */
async function agentArtifact(o: InstallOptions, arch: Arch, digests: LocalDigests): Promise<{ path: string; sha256: string }> {
  // Loaded here only: building needs rolldown and tar-stream (development dependencies), which
  // the CLI must not load to start (`edgebox --help` from the npm package, or on a module).
  const builder = await import('./agent-artifact.js').catch((e: Error) => e);
  if (!(builder instanceof Error)) {
    const built = await builder.buildAgentArtifact({
      arch,
      version: EDGEBOX_VERSION,
      root: o.root,
      progress: o.progress,
      ...(o.cache ? { cache: o.cache } : {}),
    });
    return { path: built.path, sha256: built.sha256 };
  }
  const shipped = await shippedArtifact(o.root, EDGEBOX_VERSION, arch, digests);
  if (!shipped)
    throw failure(
      'install.no-agent-artifact',
      `no agent artefact for linux/${arch} in ${join(o.root, SHIPPED_ARTIFACTS_DIR)}, and none can be built here (${builder.message})`,
      'install an edgebox release (its package ships the artefacts), or run install from a checkout after `npm ci && npm run build`',
    );
  o.progress(`using the shipped agent artefact ${shipped.path}`);
  return shipped;
}

async function downloadRelease(o: InstallOptions, version: string, reach: ReadonlyMap<string, Reach>, digests: LocalDigests): Promise<string[]> {
  const archs = new Set<Arch>();
  for (const r of reach.values()) {
    const arch = r.ok ? kubeArch(r.facts.machine) : undefined;
    if (arch) archs.add(arch);
  }
  const got = await k3sRelease({
    version,
    archs: [...archs].sort(),
    cache: o.cache ?? cacheRoot(),
    digests,
    ...(o.k3sReleaseUrl ? { baseUrl: o.k3sReleaseUrl } : {}),
    progress: o.progress,
  });
  return got.map((g) => g.path);
}

interface Prepared {
  box: BoxSpec;
  diagnostics: Diagnostic[];
  facts: Map<string, ModuleFacts>;
  archOf: Map<string, Arch>;
  inputs: InstallInputs;
  secrets: Executor['secrets'];
  /** The BMC login, where the box has a BMC to log in to. */
  bmc?: BmcInputs;
}

/** What install and upgrade share: the spec, the inputs, preflight on every module, the secrets, the agent's artefacts. */
async function prepare(o: InstallOptions, sessions: Map<string, SshSession>): Promise<Prepared> {
  const { box, diagnostics } = await loadSpec(o.specFile);
  const specText = await readFile(o.specFile, 'utf8');
  if (o.k3sVersion !== undefined && o.k3sBinaries.length > 0)
    throw inputError('install.k3s-binary', '--k3s-binary and --k3s-version both given', 'give one: the binaries you have, or the release to download');
  const release = o.k3sVersion === true ? box.spec.k3s.version : o.k3sVersion;
  if (release !== undefined) checkReleaseVersion(release);
  if (release !== undefined && release !== box.spec.k3s.version && !o.ignoreK3sVersion)
    throw inputError(
      'install.k3s-version',
      `--k3s-version ${release}, but the spec pins ${box.spec.k3s.version}`,
      `pin ${release} in spec.k3s.version, give --k3s-version alone for the pinned one, or add --ignore-k3s-version`,
    );
  const digests = await LocalDigests.open(o.cache ?? cacheRoot());
  const images = o.airgapImages ? await airgapImages(o.airgapImages, digests) : [];
  const reach = await reachModules(
    box,
    o,
    sessions,
    managedPaths(
      EDGEBOX_VERSION,
      images.map((i) => i.name),
    ),
  );
  const binaries = await inspectBinaries(release === undefined ? o.k3sBinaries : await downloadRelease(o, release, reach, digests), digests);
  // Kept now as well: preflight may refuse the box, and what was read stays read.
  await digests.save();
  const k3sVersions = Object.fromEntries(Object.entries(binaries).map(([a, b]) => [a, { version: b.version }]));
  const problems = preflight(box, reach, {
    locate: specLocator(specText, o.specFile),
    user: o.user,
    keyPath: o.keyPath,
    k3s: k3sVersions,
    ignoreK3sVersion: o.ignoreK3sVersion,
  });
  if (hasErrors(problems)) {
    const errors = problems.filter((d) => d.severity === 'error');
    throw new EdgeboxError(errors.some((d) => INPUT_CODES.has(d.code)) ? 'input' : 'failure', [
      ...problems,
      { code: 'install.refused', severity: 'info', message: 'preflight refused the box: nothing was changed on any module' },
    ]);
  }
  const facts = new Map([...reach].map(([m, r]) => [m, (r as { ok: true; facts: ModuleFacts }).facts]));
  const usesBmc = boxUsesBmc(box);
  const bmc = usesBmc ? o.bmc : undefined;
  if (usesBmc && !o.bmc)
    problems.push({
      code: 'install.bmc-login',
      severity: 'warning',
      message:
        'modules have a Turing Pi BMC power driver and no BMC login was given: the agents and the controller can power a module off only on BMC firmware before 2.0',
      hint: "set EDGEBOX_BMC_USERNAME and EDGEBOX_BMC_PASSWORD (and --bmc-ca with the BMC's certificate) in this shell and run install again",
    });
  const archOf = new Map([...facts].map(([m, f]) => [m, kubeArch(f.machine)!]));
  const secrets: Executor['secrets'] = {
    token: await resolveSecret(sessions, facts, TOKEN_FILE, 'K3s join token'),
    'box-secret': await resolveSecret(sessions, facts, AGENT_SECRET_PATH, 'box secret'),
    ...(bmc ? { 'bmc-env': bmcEnvText(bmc) } : {}),
  };
  const agent: Partial<Record<Arch, { path: string; sha256: string }>> = {};
  for (const arch of new Set(archOf.values())) agent[arch] = await agentArtifact(o, arch, digests);
  await digests.save();
  const inputs: InstallInputs = {
    k3s: Object.fromEntries(Object.entries(binaries).map(([a, b]) => [a, { path: b.path, sha256: b.sha256, version: b.version }])),
    agent,
    images,
    edgeboxVersion: EDGEBOX_VERSION,
    tokenSha256: sha256(secrets.token),
    boxSecretSha256: sha256(secrets['box-secret']),
    ...(bmc ? { bmc: { envSha256: sha256(secrets['bmc-env']!), ...(bmc.ca ? { ca: bmc.ca } : {}) } } : {}),
    specText,
    sha256,
  };
  return { box, diagnostics: [...diagnostics, ...problems], facts, archOf, inputs, secrets, ...(bmc ? { bmc } : {}) };
}

/** Runs the phases that have steps, recording each step's time in the report. */
async function execute(x: Executor, phases: readonly Phase[], report: InstallReport, progress: (l: string) => void): Promise<void> {
  for (const [i, phase] of phases.entries()) {
    if (phase.steps.length === 0) continue;
    const start = Date.now();
    progress(`${phase.name}:`);
    report.phases[i] = { name: phase.name, steps: await runPhase(x, phase, progress), ms: Date.now() - start };
  }
}

function reportOf(box: BoxSpec, o: InstallOptions, phases: readonly Phase[], notes: InstallReport['notes'], diagnostics: Diagnostic[]): InstallReport {
  return {
    box: box.metadata.name,
    dryRun: o.dryRun,
    unchanged: phases.every((p) => p.steps.length === 0),
    phases: phases.map((p) => ({ name: p.name, steps: p.steps.map((s) => ({ module: s.module, step: describeStep(s) })) })),
    notes,
    diagnostics,
    ms: 0,
  };
}

export async function install(o: InstallOptions): Promise<InstallReport> {
  const started = Date.now();
  const sessions = new Map<string, SshSession>();
  try {
    const p = await prepare(o, sessions);
    const plan: InstallPlan = planInstall(p.box, p.facts, p.archOf, p.inputs);
    const report = reportOf(p.box, o, plan.phases, plan.notes, p.diagnostics);
    if (o.dryRun || report.unchanged) return { ...report, ms: Date.now() - started };
    const x: Executor = {
      box: p.box,
      sessions,
      secrets: p.secrets,
      ...(p.bmc ? { bmc: p.bmc } : {}),
      gates: { timeoutMs: o.gateTimeoutMs ?? 300_000, progress: o.progress },
    };
    await execute(x, plan.phases, report, o.progress);
    return { ...report, ms: Date.now() - started };
  } finally {
    for (const s of sessions.values()) s.close();
  }
}

/** The members as a running server's own etcd reports them, over SSH; empty when no server runs. */
async function clusterMembers(
  sessions: ReadonlyMap<string, SshSession>,
  facts: ReadonlyMap<string, ModuleFacts>,
): Promise<{ through?: string; members: MemberInfo[] }> {
  for (const [module, f] of facts) {
    if (!f.units.k3s?.active) continue;
    const s = sessions.get(module)!;
    const files = await Promise.all(['server-ca.crt', 'client.crt', 'client.key'].map((name) => s.readFile(`${ETCD_TLS_DIR}/${name}`)));
    if (files.some((x) => !x)) continue;
    const [ca, cert, key] = files as Buffer[];
    const port = await s.forward(K3S_ETCD_PORT);
    try {
      const members = await etcdGateway({
        endpoint: `https://127.0.0.1:${port}`,
        tls: () => Promise.resolve({ ca: ca!, cert: cert!, key: key! }),
      }).memberList();
      return { through: module, members };
    } catch {
      // the next server
    }
  }
  return { members: [] };
}

/**
 * `edgebox upgrade`: the same preflight and inputs as install, then upgrade-plan.ts: refused, with
 * the reasons, while a step could break the quorum; else a snapshot, the servers one at a time,
 * the agents, the edgebox agents.
 */
export async function upgrade(o: InstallOptions): Promise<InstallReport> {
  const started = Date.now();
  const sessions = new Map<string, SshSession>();
  try {
    const p = await prepare(o, sessions);
    const { through, members } = await clusterMembers(sessions, p.facts);
    const plan = planUpgrade(p.box, p.facts, p.archOf, p.inputs, members);
    if (!through)
      plan.refusals.push({
        module: p.box.spec.modules[0]!.name,
        code: 'install.no-cluster',
        message: 'no server of the box answers for its etcd members',
        hint: 'start the box (or install it) first',
      });
    if (plan.refusals.length) {
      const locate = specLocator(await readFile(o.specFile, 'utf8'), o.specFile);
      throw new EdgeboxError(
        'failure',
        plan.refusals.map((r) => {
          const i = p.box.spec.modules.findIndex((m) => m.name === r.module);
          return {
            code: r.code,
            severity: 'error',
            message: r.message,
            hint: r.hint,
            ...(i >= 0 ? { path: `spec.modules[${i}]`, location: locate(['spec', 'modules', i]) } : {}),
          };
        }),
      );
    }
    const report = reportOf(p.box, o, plan.phases, [], p.diagnostics);
    if (o.dryRun || report.unchanged) return { ...report, ms: Date.now() - started };
    const x: Executor = {
      box: p.box,
      sessions,
      secrets: p.secrets,
      ...(through ? { through } : {}),
      ...(p.bmc ? { bmc: p.bmc } : {}),
      gates: { timeoutMs: o.gateTimeoutMs ?? 300_000, progress: o.progress },
    };
    await execute(x, plan.phases, report, o.progress);
    return { ...report, ms: Date.now() - started };
  } finally {
    for (const s of sessions.values()) s.close();
  }
}
