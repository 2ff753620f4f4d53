import { isIPv6 } from 'node:net';
import { AGENT_UNIT, MAY_START_DROP_IN, SERVER_UNIT } from '../agent/role/k3s-plan.js';
import {
  AGENT_KUBECONFIG_PATH,
  AGENT_SECRET_PATH,
  AGENT_SPEC_PATH,
  AGENT_UNIT_FILE,
  BMC_CA_PATH,
  BMC_ENV_PATH,
  renderAgentUnit,
} from '../render/agent-unit.js';
import {
  API_PORT,
  K3S_CONFIG_PATH,
  k3sRoles,
  KUBELET_CONFIG_PATH,
  renderK3sConfig,
  renderKubeletConfig,
  TOKEN_FILE,
  type K3sRole,
} from '../render/k3s-config.js';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { BMC_SECRET } from '../render/controller.js';
import { renderK3sDropIn } from '../render/k3s-unit.js';
import { KUBE_VIP_KUBECONFIG_PATH, KUBE_VIP_MANIFEST_FILE, kubeVipModules, POD_MANIFESTS_DIR } from '../render/kube-vip.js';
import { kubeVipFile } from '../render/render-box.js';
import { renderK3sService } from '../render/k3s-service.js';
import { initialServers } from '../plan/control-plane.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import type { ModuleFacts } from './facts.js';

/**
 * The install plan: from the box, what each module has (facts.ts) and the inputs (the K3s
 * binary, the agent's artefact, the token and box secret), the steps that bring every module to
 * the box, and nothing else. Pure: `edgebox install --dry-run` prints exactly this, and the same
 * facts always give the same steps.
 *
 * Order (the joins K3s users most often get wrong, k3s#12794, k3s#4335): the first server, then
 * every other initial server one at a time, each start gated on its etcd member being a voter
 * with a leader before the next begins (etcd admits one learner at a time), then the agent
 * modules, then the cluster objects, then every module's edgebox agent.
 *
 * Who may act: only the person running install, on modules K3s has never started on, or to
 * finish a start install itself began. Once a module's K3s has run under its edgebox agent, its
 * role (which unit runs, config.yaml) is the agent's: the guardian may have promoted or demoted it
 * since, so install neither rewrites that config nor starts a stopped K3s there. A stopped server
 * with data may be a stale member (docs/runbooks/control-plane.md): starting it is the agent's
 * decision (the may-start flag), never install's.
 */

export const K3S_BINARY_PATH = '/usr/local/bin/k3s';
export const K3S_UNIT_DIR = '/etc/systemd/system';
export const AGENT_ARTIFACT_DIR = '/var/lib/edgebox/artifacts';
/** Where K3s imports image archives from at every start (K3s's airgap install). */
export const K3S_IMAGES_DIR = '/var/lib/rancher/k3s/agent/images';
export const KUBE_VIP_POD_PATH = `${POD_MANIFESTS_DIR}/${KUBE_VIP_MANIFEST_FILE}`;

/** Where a file's bytes come from: text made here, a file on this machine, or a secret resolved at run time. */
export type Source = { kind: 'text'; text: string } | { kind: 'local'; path: string } | { kind: 'secret'; name: SecretName };
export type SecretName = 'token' | 'box-secret' | 'bmc-env';

export interface FileSpec {
  path: string;
  mode: number;
  sha256: string;
  source: Source;
}

export type Step =
  | { kind: 'write'; module: string; file: FileSpec; why: string }
  /** Unpacks the agent's artefact (already uploaded by a write) over `/`. */
  | { kind: 'unpack'; module: string; archive: string; version: string; sha256: string }
  /** daemon-reload, enable, then start (or restart when already running). */
  | { kind: 'start'; module: string; unit: string; restart: boolean; why: string }
  | { kind: 'wait-api'; module: string }
  /** Its etcd member a voter with a leader: the gate before the next server joins. */
  | { kind: 'wait-voter'; module: string }
  /** The rendered cluster objects (edgebox-system, the agents' identities), server-side applied through `module`. */
  | { kind: 'apply'; module: string }
  /** A kubeconfig for the module's own agent identity, made through the API of `through`. */
  | { kind: 'agent-kubeconfig'; module: string; through: string }
  /** kube-vip's kubeconfig on a module that may serve (the box has an API address), through `through`. */
  | { kind: 'kube-vip-kubeconfig'; module: string; through: string }
  /** The controller's copy of the BMC login and certificate: the edgebox-bmc Secret, made or replaced. */
  | { kind: 'bmc-secret'; module: string }
  /** `k3s etcd-snapshot save` on the module, a running voter (upgrade). */
  | { kind: 'snapshot'; module: string }
  /** Cordon the module's Node and evict its pods, PodDisruptionBudgets respected (upgrade). */
  | { kind: 'drain'; module: string }
  | { kind: 'uncordon'; module: string }
  /**
   * Its Node Ready with a kubelet of `version` (upgrade, after a restart on a new K3s): before the
   * next module goes down, this one takes pods again. `required`: an agent's Node must exist; a
   * server running without its agent has none.
   */
  | { kind: 'wait-node'; module: string; version: string; required: boolean };

/** Says why a module needs nothing, or what install leaves to someone else. */
export interface Note {
  module: string;
  message: string;
}

/** Steps run in order, or (parallel) each module's in order with the modules side by side. */
export interface Phase {
  name: string;
  parallel: boolean;
  steps: Step[];
}

export interface InstallPlan {
  phases: Phase[];
  notes: Note[];
}

export interface InstallInputs {
  /** The K3s binary for each architecture the box has, with its digest. */
  k3s: Partial<Record<'arm64' | 'amd64', { path: string; sha256: string; version?: string }>>;
  /** The agent's artefact for each architecture. */
  agent: Partial<Record<'arm64' | 'amd64', { path: string; sha256: string }>>;
  edgeboxVersion: string;
  /**
   * Airgap image archives (`--airgap-images`), copied into K3s's images directory before its first
   * start, where K3s imports them itself: K3s's own images, the controller's image (`npm run image`).
   */
  images?: readonly { name: string; path: string; sha256: string }[];
  /** sha256 of the token and of the box secret that will be written (resolved before planning). */
  tokenSha256: string;
  boxSecretSha256: string;
  /** The spec's text, installed as the agents' /etc/edgebox/box.yaml. */
  specText: string;
  /** The BMC login to install (src/install/bmc.ts): the env file's sha256, and the certificate. */
  bmc?: { envSha256: string; ca?: string };
  sha256(text: string): string;
}

function url(address: string): string {
  return `https://${isIPv6(address) ? `[${address}]` : address}:${API_PORT}`;
}

function text(path: string, mode: number, content: string, inputs: InstallInputs): FileSpec {
  return { path, mode, sha256: inputs.sha256(content), source: { kind: 'text', text: content } };
}

/** The files of a module's K3s, as its initial role needs them. Joins go to the first server's own address: the API address (kube-vip) answers only once a server runs it. */
export function k3sFiles(box: BoxSpec, m: ModuleSpec, role: K3sRole, arch: 'arm64' | 'amd64', inputs: InstallInputs): FileSpec[] {
  const first = box.spec.modules.find((x) => k3sRoles(box).get(x.name) === 'cluster-init')!;
  const binary = inputs.k3s[arch]!;
  const mayServe = m.roles.includes('server');
  return [
    { path: K3S_BINARY_PATH, mode: 0o755, sha256: binary.sha256, source: { kind: 'local', path: binary.path } },
    ...(inputs.images ?? []).map((i): FileSpec => ({
      path: `${K3S_IMAGES_DIR}/${i.name}`,
      mode: 0o644,
      sha256: i.sha256,
      source: { kind: 'local', path: i.path },
    })),
    text(K3S_CONFIG_PATH, 0o600, renderK3sConfig(box, m, role === 'cluster-init' ? {} : { joinUrl: url(first.address) }), inputs),
    text(KUBELET_CONFIG_PATH, 0o644, renderKubeletConfig(), inputs),
    { path: TOKEN_FILE, mode: 0o600, sha256: inputs.tokenSha256, source: { kind: 'secret', name: 'token' } },
    // A module that may serve gets both units, as the role driver expects (k3s-plan.ts): it switches between them.
    ...(role !== 'agent' || mayServe ? [text(`${K3S_UNIT_DIR}/${SERVER_UNIT}.service`, 0o644, renderK3sService('server'), inputs)] : []),
    ...(role === 'agent' ? [text(`${K3S_UNIT_DIR}/${AGENT_UNIT}.service`, 0o644, renderK3sService('agent'), inputs)] : []),
  ];
}

/**
 * The edgebox agent's files. With them, a module that may serve gets render's drop-in: from then
 * on K3s starts only when its agent allows it (a module powered on again may hold a stale member).
 */
export function agentFiles(box: BoxSpec, m: ModuleSpec, inputs: InstallInputs): FileSpec[] {
  return [
    ...(m.roles.includes('server') ? [text(MAY_START_DROP_IN, 0o644, renderK3sDropIn(box, m), inputs)] : []),
    text(AGENT_SPEC_PATH, 0o644, inputs.specText, inputs),
    { path: AGENT_SECRET_PATH, mode: 0o600, sha256: inputs.boxSecretSha256, source: { kind: 'secret', name: 'box-secret' } },
    text(`${K3S_UNIT_DIR}/${AGENT_UNIT_FILE}`, 0o644, renderAgentUnit(box, m), inputs),
    // On every module, not only those with a slot: the survivor of a quorum loss powers off the
    // others, and any agent may route a peripheral's USB bus.
    ...(inputs.bmc ? [{ path: BMC_ENV_PATH, mode: 0o600, sha256: inputs.bmc.envSha256, source: { kind: 'secret', name: 'bmc-env' } } satisfies FileSpec] : []),
    ...(inputs.bmc?.ca ? [text(BMC_CA_PATH, 0o644, inputs.bmc.ca, inputs)] : []),
  ];
}

const changed = (facts: ModuleFacts, files: readonly FileSpec[]): FileSpec[] => files.filter((f) => facts.files[f.path] !== f.sha256);

const artifactPath = (version: string, arch: string): string => `${AGENT_ARTIFACT_DIR}/edgebox-agent-${version}-linux-${arch}.tar.gz`;
/** Written last by an unpack, holding the artefact's digest: the runtime of this version is whole. */
export const agentMarker = (version: string): string => `/opt/edgebox/${version}/.installed`;

/** Every path whose digest the probe reports. */
export function managedPaths(version: string, images: readonly string[] = []): string[] {
  return [
    ...images.map((name) => `${K3S_IMAGES_DIR}/${name}`),
    K3S_BINARY_PATH,
    K3S_CONFIG_PATH,
    KUBELET_CONFIG_PATH,
    TOKEN_FILE,
    `${K3S_UNIT_DIR}/${SERVER_UNIT}.service`,
    `${K3S_UNIT_DIR}/${AGENT_UNIT}.service`,
    MAY_START_DROP_IN,
    AGENT_SPEC_PATH,
    AGENT_SECRET_PATH,
    AGENT_KUBECONFIG_PATH,
    BMC_ENV_PATH,
    BMC_CA_PATH,
    `${K3S_UNIT_DIR}/${AGENT_UNIT_FILE}`,
    artifactPath(version, 'arm64'),
    artifactPath(version, 'amd64'),
    agentMarker(version),
    KUBE_VIP_KUBECONFIG_PATH,
    KUBE_VIP_POD_PATH,
  ];
}

function roleUnit(role: K3sRole): string {
  return role === 'agent' ? AGENT_UNIT : SERVER_UNIT;
}

/**
 * The K3s part of one module: nothing once its K3s runs or its agent owns it; else its files and
 * a start, then the gate.
 */
function k3sSteps(box: BoxSpec, m: ModuleSpec, role: K3sRole, facts: ModuleFacts, arch: 'arm64' | 'amd64', inputs: InstallInputs, notes: Note[]): Step[] {
  const unit = roleUnit(role);
  const state = facts.units[unit];
  const agentOwns = facts.units['edgebox-agent']?.enabled === true;
  const files = k3sFiles(box, m, role, arch, inputs);
  const gate: Step[] = role === 'cluster-init' ? [{ kind: 'wait-api', module: m.name }] : role === 'server' ? [{ kind: 'wait-voter', module: m.name }] : [];

  if (agentOwns) {
    // The role is the agent's now (a promotion or demotion may have changed it): report, never undo.
    const drift = changed(facts, files).filter((f) => f.path !== K3S_CONFIG_PATH && !f.path.endsWith('.service') && f.path !== MAY_START_DROP_IN);
    if (drift.length)
      notes.push({ module: m.name, message: `${drift.map((f) => f.path).join(', ')} differ from this install: \`edgebox upgrade\` changes a running box` });
    return [];
  }
  const writes = changed(facts, files);
  if (writes.length === 0 && state?.active) return role === 'agent' ? [] : gate;
  if (facts.k3sServerData && !state?.active && role !== 'cluster-init' && writes.length === 0) {
    // Started once by install and stopped since, with no agent yet: finishing the start is install's.
    notes.push({ module: m.name, message: `${unit} is stopped with data of an earlier start; install starts it again to finish its join` });
  }
  return [
    ...writes.map((file): Step => ({ kind: 'write', module: m.name, file, why: facts.files[file.path] ? 'changed' : 'missing' })),
    { kind: 'start', module: m.name, unit, restart: state?.active === true, why: state?.active ? 'its files changed' : 'not running' },
    ...gate,
  ];
}

function edgeboxAgentSteps(box: BoxSpec, m: ModuleSpec, facts: ModuleFacts, arch: 'arm64' | 'amd64', inputs: InstallInputs, through: string): Step[] {
  const artifact = inputs.agent[arch]!;
  const archive = artifactPath(inputs.edgeboxVersion, arch);
  const runtime: Step[] =
    facts.files[agentMarker(inputs.edgeboxVersion)] === inputs.sha256(`${artifact.sha256}\n`)
      ? []
      : [
          ...(facts.files[archive] === artifact.sha256
            ? []
            : [
                {
                  kind: 'write',
                  module: m.name,
                  file: { path: archive, mode: 0o644, sha256: artifact.sha256, source: { kind: 'local', path: artifact.path } },
                  why: 'missing',
                } satisfies Step,
              ]),
          { kind: 'unpack', module: m.name, archive, version: inputs.edgeboxVersion, sha256: artifact.sha256 },
        ];
  const writes = changed(facts, agentFiles(box, m, inputs));
  // kube-vip (the API address) on every module that may serve: its identity, then its static pod.
  const vip = kubeVipModules(box).some((x) => x.name === m.name);
  const kubeVip: Step[] = vip
    ? [
        ...(facts.files[KUBE_VIP_KUBECONFIG_PATH] ? [] : [{ kind: 'kube-vip-kubeconfig', module: m.name, through } satisfies Step]),
        ...changed(facts, [text(KUBE_VIP_POD_PATH, 0o644, kubeVipFile(box, m.name), inputs)]).map((file): Step => ({
          kind: 'write',
          module: m.name,
          file,
          why: facts.files[file.path] ? 'changed' : 'missing',
        })),
      ]
    : [];
  const kubeconfig: Step[] = facts.files[AGENT_KUBECONFIG_PATH] ? [] : [{ kind: 'agent-kubeconfig', module: m.name, through }];
  const state = facts.units['edgebox-agent'];
  const any = runtime.length + writes.length + kubeconfig.length > 0;
  if (!any && state?.active && state.enabled) return kubeVip;
  return [
    ...kubeVip,
    ...runtime,
    ...writes.map((file): Step => ({ kind: 'write', module: m.name, file, why: facts.files[file.path] ? 'changed' : 'missing' })),
    ...kubeconfig,
    { kind: 'start', module: m.name, unit: 'edgebox-agent', restart: state?.active === true, why: state?.active ? 'its files changed' : 'not running' },
  ];
}

/**
 * The whole plan. `facts` must hold every module (preflight refused the box otherwise);
 * `archOf` is each module's architecture as the probe found it.
 */
export function planInstall(
  box: BoxSpec,
  facts: ReadonlyMap<string, ModuleFacts>,
  archOf: ReadonlyMap<string, 'arm64' | 'amd64'>,
  inputs: InstallInputs,
): InstallPlan {
  const roles = k3sRoles(box);
  const notes: Note[] = [];
  const byRole = (r: K3sRole) => box.spec.modules.filter((m) => roles.get(m.name) === r);
  // In plan's ranked order, the first of which creates the cluster.
  const servers = initialServers(box).map((x) => box.spec.modules.find((m) => m.name === x.name)!);
  const first = servers[0]!;
  const f = (m: ModuleSpec) => facts.get(m.name)!;
  const a = (m: ModuleSpec) => archOf.get(m.name)!;

  const agents = box.spec.modules.flatMap((m) => edgeboxAgentSteps(box, m, f(m), a(m), inputs, first.name));
  return {
    phases: [
      { name: 'servers, one at a time', parallel: false, steps: servers.flatMap((m) => k3sSteps(box, m, roles.get(m.name)!, f(m), a(m), inputs, notes)) },
      { name: 'agents', parallel: true, steps: byRole('agent').flatMap((m) => k3sSteps(box, m, 'agent', f(m), a(m), inputs, notes)) },
      // Whenever an agent needs its identity (a kubeconfig to make), its ServiceAccount must exist.
      {
        name: 'cluster objects',
        parallel: false,
        steps: [
          ...(agents.some((s) => s.kind === 'agent-kubeconfig' || s.kind === 'kube-vip-kubeconfig')
            ? [{ kind: 'apply', module: first.name } satisfies Step]
            : []),
          // The controller's copy, whenever the agents' changes (a first install, a new password).
          ...(agents.some((s) => s.kind === 'write' && s.file.path === BMC_ENV_PATH) ? [{ kind: 'bmc-secret', module: first.name } satisfies Step] : []),
        ],
      },
      { name: 'edgebox agents', parallel: true, steps: agents },
    ],
    notes,
  };
}

/** One line per step, for --dry-run and progress. */
export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'write':
      return `write ${s.file.path} (${s.file.mode.toString(8).padStart(4, '0')}, ${s.why})`;
    case 'unpack':
      return `unpack the edgebox ${s.version} runtime from ${s.archive}`;
    case 'start':
      return `${s.restart ? 'restart' : 'enable and start'} ${s.unit} (${s.why})`;
    case 'wait-api':
      return 'wait for its API server to be ready';
    case 'wait-voter':
      return 'wait for its etcd member to be a voter with a leader (the next server joins only then)';
    case 'apply':
      return 'apply the cluster objects (edgebox-system, the agents\u2019 identities) through its API server';
    case 'agent-kubeconfig':
      return `write ${AGENT_KUBECONFIG_PATH} (0600) for its agent identity, made through ${s.through}`;
    case 'kube-vip-kubeconfig':
      return `write ${KUBE_VIP_KUBECONFIG_PATH} (0600) for kube-vip, which holds the API address, made through ${s.through}`;
    case 'snapshot':
      return 'save an etcd snapshot (edgebox-before-upgrade), kept';
    case 'bmc-secret':
      return `write the BMC login for the controller, the Secret ${SYSTEM_NAMESPACE}/${BMC_SECRET}, through its API server`;
    case 'drain':
      return 'cordon its node and evict its pods (PodDisruptionBudgets respected)';
    case 'uncordon':
      return 'uncordon its node';
    case 'wait-node':
      return `wait for its node to be Ready on the new kubelet (${s.version})`;
  }
}
