import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { LABELS } from '../spec/labels.js';
import { readState, updateState, type BoxState } from './box-state.js';
import { componentCommands, timingsFor } from './components.js';
import { boxFiles, readToken } from './credentials.js';
import { coreApi } from '../kube/client.js';
import { awaitHealthy, launch } from './launch.js';
import { killProcesses, signalProcesses, sleep } from './processes.js';
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
 * `local kill`: the module stops heartbeating, as a module that lost power does. Its agent (if
 * the box runs agents) dies at once with SIGKILL: a powered-off module says no goodbye. Its node
 * loses the label KWOK selects on; KWOK's watch (server-side label selector) drops it, nobody
 * renews its Lease, and after --node-monitor-grace-period the node lifecycle controller marks it
 * Unknown and taints it. Its pods are evicted after their toleration and then stay Terminating,
 * since nothing on the "module" confirms they stopped: what real hardware does.
 */
export async function killModule(dir: string, module: string): Promise<InjectionResult> {
  const state = await runningBox(dir, module);
  const wasKilled = state.killed.includes(module);
  // The label goes first, so that a failover timed from the watch event of the kill (as the
  // benchmarks do) includes the agent's death rather than starting after it.
  if (!wasKilled) await setSelectorLabel(dir, module, null);
  // Also when the module is already killed: an agent started since then (by hand) must go too.
  const agentKilled = await killAgent(state, module);
  if (wasKilled) return { module, changed: agentKilled };
  await updateState(dir, (s) => {
    s.killed = [...new Set([...s.killed, module])].sort();
  });
  return { module, changed: true };
}

/**
 * `local revive`: KWOK plays the node again (its node-initialize stage makes it Ready), then
 * the module's agent starts, as both do when a module boots. Returns once the agent answers.
 */
export async function reviveModule(dir: string, module: string): Promise<InjectionResult> {
  const state = await runningBox(dir, module);
  if (!state.killed.includes(module)) return { module, changed: false };
  await setSelectorLabel(dir, module, KWOK_SELECTOR.value);
  await updateState(dir, (s) => {
    s.killed = s.killed.filter((m) => m !== module);
  });
  await restartAgent(dir, module);
  return { module, changed: true };
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
    throw inputError('local.unknown-controller', `no controller '${id}' in ${dir}`,
      `controllers: ${(state?.controllers ?? []).map((c) => c.id).join(', ') || 'none (start the box with --with-controller)'}`);
  }
  await killProcesses([controller]);
}

/**
 * The control plane briefly unavailable: kills one component (SIGKILL, a crash: kube-apiserver
 * would otherwise keep serving for seconds while it drains), waits `downForMs`, and starts it
 * again with the same command line (ports, certificates and data stay, so clients reconnect as
 * they would after a real restart). Returns once it answers its health check again.
 */
export async function restartComponent(dir: string, name: Component, opts: { downForMs: number }): Promise<void> {
  const state = await readState(dir);
  const current = state?.components.find((c) => c.name === name);
  if (!state || !current) throw failure('local.no-box', `no local box with ${name} is running in ${dir}`, 'start one with `edgebox local up <spec>`');
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

async function runningBox(dir: string, module: string): Promise<BoxState> {
  const state = await readState(dir);
  if (!state) throw failure('local.no-box', `no local box is running in ${dir}`, 'start one with `edgebox local up <spec>`');
  const down = (await componentStatuses(state)).filter((c) => c.phase !== 'running');
  if (down.length > 0) {
    throw failure('local.box-degraded', `box '${state.box}' is not fully running: ${down.map((c) => `${c.name} ${c.phase}`).join(', ')}`,
      'see `edgebox local status`');
  }
  const nodes = await coreApi(boxFiles(dir).kubeconfig).listNode({ labelSelector: `${LABELS.box}=${state.box}` });
  const names = nodes.items.map((n) => n.metadata?.name ?? '');
  if (!names.includes(module)) {
    throw inputError('local.unknown-module', `box '${state.box}' has no module '${module}'`, `modules: ${names.join(', ')}`);
  }
  return state;
}

async function setSelectorLabel(dir: string, module: string, value: string | null): Promise<void> {
  await coreApi(boxFiles(dir).kubeconfig).patchNode(
    { name: module, body: { metadata: { labels: { [KWOK_SELECTOR.key]: value } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}
