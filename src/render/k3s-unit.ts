import { MAY_START_DROP_IN, MAY_START_FLAG } from '../agent/role/k3s-plan.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';

export const K3S_DROP_IN_FILE = '10-edgebox.conf';

/**
 * The drop-in for `k3s.service` on a module that may serve: K3s starts only while the agent's
 * flag exists, and the flag is on /run, which every boot empties (docs/runbooks/control-plane.md,
 * "Before you start"). A module powered on again never starts K3s from data that may be a stale
 * member's; its agent starts it once the live cluster still lists it, or once the quorum-loss
 * recovery chose it. systemd checks the condition at every start, Restart=always's included, so a
 * K3s that crashes while allowed still restarts.
 */
export function renderK3sDropIn(box: BoxSpec, m: ModuleSpec): string {
  return [
    `# Rendered by edgebox from box ${box.metadata.name} for module ${m.name}. Install as`,
    `# ${MAY_START_DROP_IN}, then: systemctl daemon-reload`,
    '',
    '[Unit]',
    '# K3s never starts by itself at boot (/run is emptied at every boot): its data may be a stale',
    "# member's (this module was fenced or powered off while the others went on, or left out of a",
    '# cluster reset), and two such modules would make a quorum of the old cluster beside the new one.',
    '# The edgebox agent writes the flag before every start it decides: a promotion, a restart the live',
    '# cluster agrees to, the survivor of a quorum loss. By hand: touch it (docs/runbooks/control-plane.md).',
    `ConditionPathExists=${MAY_START_FLAG}`,
    '',
  ].join('\n');
}
