import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import type { K3sRole } from './k3s-config.js';

/** Where `edgebox agent run` finds its inputs on a module (docs/agent.md). */
export const AGENT_SPEC_PATH = '/etc/edgebox/box.yaml';
export const AGENT_SECRET_PATH = '/etc/edgebox/box-secret';
/** K3s writes the admin kubeconfig here on every server (and only on servers). */
export const SERVER_KUBECONFIG_PATH = '/etc/rancher/k3s/k3s.yaml';
/**
 * K3s agents have no kubeconfig the agent could use (the kubelet's credentials cannot write
 * Leases in edgebox-system), so agent modules get one of their own, for a ServiceAccount allowed
 * only that (docs/agent.md says how to make it).
 */
export const AGENT_KUBECONFIG_PATH = '/etc/edgebox/agent-kubeconfig.yaml';
export const AGENT_UNIT_FILE = 'edgebox-agent.service';

/**
 * The systemd unit of a module's agent. It depends on the network only, never on k3s.service:
 * the agent must keep heartbeating while K3s on its module is down or restarting, or its peers
 * would count a K3s restart as a dead module.
 */
export function renderAgentUnit(box: BoxSpec, m: ModuleSpec, role: K3sRole): string {
  const kubeconfig = role === 'agent' ? AGENT_KUBECONFIG_PATH : SERVER_KUBECONFIG_PATH;
  return [
    `# Rendered by edgebox from box ${box.metadata.name} for module ${m.name}. Install as`,
    `# /etc/systemd/system/${AGENT_UNIT_FILE}, then: systemctl enable --now edgebox-agent`,
    '',
    '[Unit]',
    `Description=edgebox agent of module ${m.name}: heartbeats with the box's other modules`,
    '# The network only, not k3s.service: the agent keeps heartbeating while K3s is down.',
    'Wants=network-online.target',
    'After=network-online.target',
    '# Never give up restarting it: without its agent a module looks dead to its peers.',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    '# Publish what the module really is (hardware discovery) at every start, in a process of its',
    '# own so the heartbeat daemon stays small; "-": a failed publish (API down at boot) must never',
    '# keep the heartbeats from starting.',
    `ExecStartPre=-/usr/bin/env edgebox agent publish --node ${m.name} --spec ${AGENT_SPEC_PATH} --kubeconfig ${kubeconfig}`,
    '# --role-driver k3s: the agent takes its module between k3s-agent and k3s when the guardian asks',
    '# (docs/runbooks/control-plane.md).',
    '# --runtime k3s: cut off from most of its peers and from the API for failover.selfFenceSeconds,',
    '# it stops its singleton pods itself (freezes the kubelet, `k3s crictl stopp`) before the',
    '# controller lets their replacements start elsewhere (docs/runbooks/self-fence.md).',
    `ExecStart=/usr/bin/env edgebox agent run --spec ${AGENT_SPEC_PATH} --module ${m.name} --secret-file ${AGENT_SECRET_PATH} --kubeconfig ${kubeconfig} --role-driver k3s --runtime k3s`,
    'Restart=always',
    'RestartSec=1',
    '# A busy module must still send its heartbeats on time, or it would look dead.',
    'Nice=-5',
    '# Read-only system but for what the role driver changes: K3s\'s config file and its etcd data.',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ReadWritePaths=-/etc/rancher/k3s -/var/lib/rancher/k3s',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
