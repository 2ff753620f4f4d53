import { AGENT_UNIT, K3S_DATA_DIR, MAY_START_DROP_IN, SERVER_UNIT, SNAPSHOT_DIR } from '../agent/role/k3s-plan.js';
import { AGENT_KUBECONFIG_PATH, AGENT_SECRET_PATH, AGENT_SPEC_PATH, AGENT_UNIT_FILE, BMC_CA_PATH, BMC_ENV_PATH } from '../render/agent-unit.js';
import { K3S_CONFIG_PATH, KUBELET_CONFIG_PATH, TOKEN_FILE } from '../render/k3s-config.js';
import { KUBE_VIP_KUBECONFIG_PATH } from '../render/kube-vip.js';
import type { BoxSpec } from '../spec/schema.js';
import type { ModuleFacts } from './facts.js';
import { AGENT_ARTIFACT_DIR, K3S_BINARY_PATH, K3S_UNIT_DIR } from './plan.js';
import { AGENT_PREFIX, AGENT_WRAPPER } from './agent-runtime.js';

/**
 * `edgebox uninstall`: what install put on a module, taken off again, and nothing else. Pure.
 *
 * - The edgebox agent stops first, so it cannot start K3s again behind the uninstall.
 * - K3s's etcd snapshots stay (in `server/db/snapshots`, the rest of K3s's data dir goes) unless
 *   asked: a box uninstalled by mistake can be restored from them (docs/runbooks/control-plane.md).
 * - The peripheral grant history (/var/lib/edgebox) stays for the same reason, unless asked.
 * - One module of a running box (`--module`) is refused while it is a running K3s server: taking
 *   a voter away without removing its member leaves the cluster a voter short, and two such
 *   uninstalls lose its quorum. `edgebox drain` moves its role away first.
 */

export type UninstallStep =
  | { kind: 'stop'; module: string; units: string[] }
  | { kind: 'remove'; module: string; paths: string[] }
  /** K3s's data dir but its snapshots. */
  | { kind: 'remove-k3s-data'; module: string; keepSnapshots: boolean };

export interface UninstallRefusal {
  module: string;
  message: string;
  hint: string;
}

export interface UninstallOptions {
  /** Only these modules; default every module of the box. */
  modules?: readonly string[];
  deleteSnapshots: boolean;
  deleteHistory: boolean;
}

const K3S_FILES = [
  K3S_BINARY_PATH,
  K3S_CONFIG_PATH,
  KUBELET_CONFIG_PATH,
  TOKEN_FILE,
  KUBE_VIP_KUBECONFIG_PATH,
  '/etc/rancher/k3s/k3s.yaml',
  '/etc/rancher/node/password',
];
const UNIT_FILES = [`${K3S_UNIT_DIR}/${SERVER_UNIT}.service`, `${K3S_UNIT_DIR}/${AGENT_UNIT}.service`, MAY_START_DROP_IN, `${K3S_UNIT_DIR}/${AGENT_UNIT_FILE}`];
const AGENT_FILES = [AGENT_SPEC_PATH, AGENT_SECRET_PATH, AGENT_KUBECONFIG_PATH, BMC_ENV_PATH, BMC_CA_PATH, AGENT_WRAPPER, AGENT_PREFIX, AGENT_ARTIFACT_DIR];

export function planUninstall(
  box: BoxSpec,
  facts: ReadonlyMap<string, ModuleFacts>,
  o: UninstallOptions,
): { steps: UninstallStep[]; refusals: UninstallRefusal[] } {
  const chosen = box.spec.modules.filter((m) => !o.modules || o.modules.includes(m.name));
  const whole = chosen.length === box.spec.modules.length;
  const refusals: UninstallRefusal[] = [];
  const steps: UninstallStep[] = [];
  for (const m of chosen) {
    const f = facts.get(m.name);
    if (!f) continue;
    if (!whole && f.units[SERVER_UNIT]?.active)
      refusals.push({
        module: m.name,
        message: `${m.name} is a running K3s server of the box; taking it away leaves the cluster a voter short`,
        hint: `move its role away first (\`edgebox drain ${m.name}\`), then uninstall it; or uninstall the whole box`,
      });
    const units = ['edgebox-agent', SERVER_UNIT, AGENT_UNIT].filter((u) => f.units[u]?.loaded || f.units[u]?.active);
    const installed = units.length > 0 || Object.keys(f.files).length > 0 || f.k3sVersion !== undefined || f.edgeboxVersion !== undefined || f.k3sServerData;
    if (!installed) continue;
    if (units.length) steps.push({ kind: 'stop', module: m.name, units });
    steps.push({ kind: 'remove', module: m.name, paths: [...UNIT_FILES, ...K3S_FILES, ...AGENT_FILES, ...(o.deleteHistory ? ['/var/lib/edgebox'] : [])] });
    steps.push({ kind: 'remove-k3s-data', module: m.name, keepSnapshots: !o.deleteSnapshots });
  }
  return { steps, refusals };
}

/** The shell of a removal, run on the module: every path at once, missing ones ignored. */
export function removeCommand(paths: readonly string[]): string {
  return `rm -rf -- ${paths.map((p) => `'${p}'`).join(' ')}`;
}

/** K3s's data dir without its snapshots: everything beside `server/db/snapshots` goes. */
export function removeK3sDataCommand(keepSnapshots: boolean): string {
  if (!keepSnapshots) return `rm -rf -- '${K3S_DATA_DIR}'`;
  const snapshots = SNAPSHOT_DIR.slice(K3S_DATA_DIR.length + 1);
  return [
    'set -e',
    `cd '${K3S_DATA_DIR}' 2>/dev/null || exit 0`,
    `find . -mindepth 1 -depth ! -path './server' ! -path './server/db' ! -path './${snapshots}' ! -path './${snapshots}/*' -exec rm -rf -- {} +`,
    // Without a snapshot, nothing is left of K3s's data dir but itself.
    `rmdir '${snapshots}' server/db server 2>/dev/null || true`,
  ].join('; ');
}
