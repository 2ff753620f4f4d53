import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { failure, inputError } from '../diagnostics/diagnostic.js';
import { LABELS } from '../spec/labels.js';
import { readState, writeState, type BoxState } from './box-state.js';
import { boxFiles } from './credentials.js';
import { coreApi } from './kube-client.js';
import { KWOK_SELECTOR } from './simulated-nodes.js';
import { componentStatuses } from './status.js';

export interface InjectionResult {
  module: string;
  /** False when the module already was in the asked state. */
  changed: boolean;
}

/**
 * `local kill`: the module stops heartbeating, as a module that lost power does. Its node loses
 * the label KWOK selects on; KWOK's watch (server-side label selector) drops it, nobody renews
 * its Lease, and after --node-monitor-grace-period the node lifecycle controller marks it
 * Unknown and taints it. Its pods are evicted after their toleration and then stay Terminating,
 * since nothing on the "module" confirms they stopped: what real hardware does.
 */
export async function killModule(dir: string, module: string): Promise<InjectionResult> {
  const state = await runningBox(dir, module);
  if (state.killed.includes(module)) return { module, changed: false };
  await setSelectorLabel(dir, module, null);
  state.killed = [...state.killed, module].sort();
  await writeState(state);
  return { module, changed: true };
}

/** `local revive`: KWOK plays the node again; its node-initialize stage makes it Ready. */
export async function reviveModule(dir: string, module: string): Promise<InjectionResult> {
  const state = await runningBox(dir, module);
  if (!state.killed.includes(module)) return { module, changed: false };
  await setSelectorLabel(dir, module, KWOK_SELECTOR.value);
  state.killed = state.killed.filter((m) => m !== module);
  await writeState(state);
  return { module, changed: true };
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
