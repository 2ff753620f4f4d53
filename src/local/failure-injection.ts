import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { LABELS } from '../contract/labels.js';
import { readState, updateState, type BoxState } from './box-state.js';
import { componentCommands } from './components.js';
import { engineOf } from './engine/engines.js';
import { timingsFor } from './timings.js';
import { memberAddresses, readServerRecord, serverLayout } from './server-layout.js';
import { awaitApiserverReady, awaitEtcdAnswers, launchApiserver, launchEtcd, runningServerProcesses } from './process-driver.js';
import { boxFiles, readToken } from './credentials.js';
import { coreApi } from '../kube/client.js';
import { awaitHealthy, launch } from './launch.js';
import { isRunning, killProcesses, signalProcesses, sleep } from './processes.js';
import { silent } from './progress.js';
import { killAgent, restartAgent } from './self-healing.js';
import { KWOK_SELECTOR } from './simulated-nodes.js';
import { componentStatuses } from './status.js';
import type { Component } from './toolchain.js';

export interface InjectionResult {
  module: string;
  /** False when the module already was in the asked state. */
  changed: boolean;
}

/**
 * `local kill` (and the `local` power driver): the module loses power. Its node loses the label
 * KWOK selects on; KWOK's watch (server-side label selector) drops it, nobody renews its Lease,
 * and after --node-monitor-grace-period the node lifecycle controller marks it Unknown and taints
 * it. Its pods are evicted after their toleration and then stay Terminating, since nothing on the
 * "module" confirms they stopped: what real hardware does. Its agent, etcd member and API server
 * die at once with SIGKILL: a powered-off module says no goodbye.
 * Works without the API (a quorum loss is when the agents' power driver needs it most): the
 * label is best-effort, the processes and the state file are what a power-off is.
 */
export async function killModule(dir: string, module: string): Promise<InjectionResult> {
  const state = await knownModule(dir, module);
  const wasKilled = state.killed.includes(module);
  // The label goes first, so that a failover timed from the watch event of the kill (as the
  // benchmarks do) includes the processes' death rather than starting after it.
  if (!wasKilled) await setSelectorLabel(dir, module, null).catch(() => undefined);
  // Also when the module is already killed: processes started since then (by hand) must go too.
  const agentKilled = await killAgent(state, module);
  const servers = await runningServerProcesses(await readServerRecord(dir, module));
  await killProcesses(servers);
  if (wasKilled) return { module, changed: agentKilled || servers.length > 0 };
  await updateState(dir, (s) => {
    s.killed = [...new Set([...s.killed, module])].sort();
  });
  return { module, changed: true };
}

/**
 * `local revive`: KWOK plays the node again (its node-initialize stage makes it Ready), then
 * the module's agent starts, as both do when a module boots; its role loop decides whether its
 * etcd member restarts (still a member) or its data is discarded (replaced meanwhile). A box
 * without agents has no role loop: a module with member data restarts it. Returns once the
 * agent (or the member) answers.
 */
export async function reviveModule(dir: string, module: string): Promise<InjectionResult> {
  const state = await knownModule(dir, module);
  if (!state.killed.includes(module)) return { module, changed: false };
  // Best-effort first: with the box's only API server on this module, the API answers only once
  // its member is back, so the label is then set after the start.
  const labelled = await setSelectorLabel(dir, module, KWOK_SELECTOR.value).then(
    () => true,
    () => false,
  );
  await updateState(dir, (s) => {
    s.killed = s.killed.filter((m) => m !== module);
  });
  await engineOf(state).boot(state, module);
  if (state.agents?.length) await restartAgent(dir, module);
  if (!labelled) await labelWhenApiAnswers(dir, module);
  return { module, changed: true };
}

/** The KWOK label, retried while the API comes back (a revived sole server restarting its member). */
async function labelWhenApiAnswers(dir: string, module: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await setSelectorLabel(dir, module, KWOK_SELECTOR.value);
    } catch (e) {
      if (Date.now() > deadline) {
        throw failure(
          'local.revive-no-api',
          `${module} is revived, but its node cannot be labelled for KWOK: the API does not answer (${(e as Error).message})`,
          'the box has no API server with quorum; see `edgebox local status`, then run `edgebox local revive` again once it serves',
        );
      }
      await sleep(500);
    }
  }
}

/**
 * A module that is alive but slow (a stalled process, a long GC pause, an overloaded CPU): its
 * agent is frozen with SIGSTOP for `ms`, then resumed. Its node keeps heartbeating.
 */
export async function freezeAgent(dir: string, module: string, ms: number): Promise<void> {
  const state = await runningBox(dir, module);
  const agent = state.agents?.find((a) => a.module === module);
  if (!agent) throw failure('local.no-agents', `box '${state.box}' runs no agent for '${module}'`, 'start the box with --with-agents');
  await signalProcesses([agent], 'SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    await signalProcesses([agent], 'SIGCONT');
  }
}

/** A controller's host dies: SIGKILL, so it neither releases its leader Lease nor finishes what it was doing. */
export async function killController(dir: string, id: string): Promise<void> {
  const state = await readState(dir);
  const controller = state?.controllers?.find((c) => c.id === id);
  if (!controller) {
    throw inputError(
      'local.unknown-controller',
      `no controller '${id}' in ${dir}`,
      `controllers: ${(state?.controllers ?? []).map((c) => c.id).join(', ') || 'none (start the box with --with-controller)'}`,
    );
  }
  await killProcesses([controller]);
}

/**
 * The control plane briefly unavailable: kills a box component, or every module's API server
 * (`kube-apiserver`) or etcd member (`etcd`) at once (SIGKILL, a crash: kube-apiserver would
 * otherwise keep serving for seconds while it drains), waits `downForMs`, and starts them again
 * with the same command lines (ports, certificates and data stay, so clients reconnect as they
 * would after a real restart). Returns once they answer their health checks again.
 */
export async function restartComponent(dir: string, name: Component, opts: { downForMs: number }): Promise<void> {
  const state = await readState(dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  if (name === 'kube-apiserver' || name === 'etcd') {
    const which = name === 'etcd' ? 'etcd' : 'apiserver';
    const modules: string[] = [];
    for (const m of Object.keys(memberAddresses(state))) {
      const p = (await readServerRecord(dir, m))[which];
      if (p && (await isRunning(p.pid, p.bin))) modules.push(m);
    }
    if (modules.length === 0) throw failure('local.no-box', `no ${name} is running in ${dir}`, 'see `edgebox local status`');
    await killProcesses(await Promise.all(modules.map(async (m) => (await readServerRecord(dir, m))[which]!)));
    await sleep(opts.downForMs);
    await Promise.all(
      modules.map(async (m) => {
        const l = serverLayout(state, m);
        if (which === 'apiserver') return awaitApiserverReady(l, await launchApiserver(dir, l));
        return awaitEtcdAnswers(l, await launchEtcd(dir, l, { initialCluster: `${m}=http://${l.address}:${l.ports.etcdPeer}`, state: 'existing' }));
      }),
    );
    return;
  }
  const current = state.components.find((c) => c.name === name);
  if (!current) throw failure('local.no-box', `no local box with ${name} is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  // The supervisor would start it again while it is meant to be down.
  await updateState(dir, (s) => {
    const c = s.components.find((x) => x.name === name);
    if (c) c.heldUntil = new Date(Date.now() + opts.downForMs + 60_000).toISOString();
  });
  await killProcesses([current]);
  await sleep(opts.downForMs);
  const files = boxFiles(dir);
  const cmd = componentCommands({ files, ports: state.ports, timings: timingsFor(state.timings), dir }).find((c) => c.name === name)!;
  const started = launch(cmd, dir, current.bin);
  await updateState(dir, (s) => {
    s.components = s.components.map((c) => (c.name === name ? started : c));
  });
  await awaitHealthy(cmd, started, await readToken(files), silent);
}

/** The box state, if `module` is one of its modules; nothing else is required (no API). */
async function knownModule(dir: string, module: string): Promise<BoxState> {
  const state = await readState(dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  if (!(module in state.addresses)) {
    throw inputError('local.unknown-module', `box '${state.box}' has no module '${module}'`, `modules: ${Object.keys(state.addresses).join(', ')}`);
  }
  return state;
}

async function runningBox(dir: string, module: string): Promise<BoxState> {
  const state = await readState(dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  const down = (await componentStatuses(state)).filter((c) => c.phase !== 'running');
  if (down.length > 0) {
    throw failure(
      'local.box-degraded',
      `box '${state.box}' is not fully running: ${down.map((c) => `${c.name} ${c.phase}`).join(', ')}`,
      'see `edgebox local status`',
    );
  }
  const nodes = await coreApi(boxFiles(dir).kubeconfig).listNode({ labelSelector: `${LABELS.box}=${state.box}` });
  const names = nodes.items.map((n) => n.metadata?.name ?? '');
  if (!names.includes(module)) {
    throw inputError('local.unknown-module', `box '${state.box}' has no module '${module}'`, `modules: ${names.join(', ')}`);
  }
  return state;
}

/** Whether KWOK plays a module's node (renews its Lease, runs its pods' lifecycle): null stops it. */
export async function setSelectorLabel(dir: string, module: string, value: string | null): Promise<void> {
  await coreApi(boxFiles(dir).kubeconfig).patchNode(
    { name: module, body: { metadata: { labels: { [KWOK_SELECTOR.key]: value } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}
