import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import { fallbackApiUrls } from './k3s-config.js';

/** Where `edgebox agent run` finds its inputs on a module (docs/agent.md). */
export const AGENT_SPEC_PATH = '/etc/edgebox/box.yaml';
export const AGENT_SECRET_PATH = '/etc/edgebox/box-secret';
/**
 * The agent's own kubeconfig, on every module: K3s's admin kubeconfig exists only on servers,
 * and a module's role changes at run time (docs/agent.md says how to make it, for the
 * ServiceAccount of render/agent-rbac.ts).
 */
export const AGENT_KUBECONFIG_PATH = '/etc/edgebox/agent-kubeconfig.yaml';
/**
 * The Turing Pi BMC's login (EDGEBOX_BMC_USERNAME, EDGEBOX_BMC_PASSWORD) and, with the BMC's
 * self-signed certificate, NODE_EXTRA_CA_CERTS naming BMC_CA_PATH: what the agent's power driver
 * needs, written 0600 by `edgebox install` (src/install/bmc.ts) or by hand. Optional in the unit.
 */
export const BMC_ENV_PATH = '/etc/edgebox/bmc.env';
export const BMC_CA_PATH = '/etc/edgebox/bmc-ca.crt';
export const AGENT_UNIT_FILE = 'edgebox-agent.service';

/**
 * The systemd unit of a module's agent. It depends on the network only, never on k3s.service:
 * the agent must keep heartbeating while K3s on its module is down or restarting, or its peers
 * would count a K3s restart as a dead module.
 */
export function renderAgentUnit(box: BoxSpec, m: ModuleSpec): string {
  const kubeconfig = AGENT_KUBECONFIG_PATH;
  const fallbacks = fallbackApiUrls(box);
  return [
    `# Rendered by edgebox from box ${box.metadata.name} for module ${m.name}. Install as`,
    `# /etc/systemd/system/${AGENT_UNIT_FILE}, then: systemctl enable --now edgebox-agent`,
    '',
    '[Unit]',
    `Description=edgebox agent of module ${m.name}: heartbeats with the box's other modules`,
    '# The network only, not k3s.service: the agent keeps heartbeating while K3s is down.',
    'Wants=network-online.target',
    '# After the clock is set (a board without an RTC boots with the wrong time): nothing the agent',
    '# decides depends on it (docs/decisions/0004-clocks-and-faults.md), but the times it writes for',
    '# people (Lease renewTime, lastSeen, grant history) are then right.',
    'After=network-online.target time-sync.target',
    '# Never give up restarting it: without its agent a module looks dead to its peers.',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    '# Publish what the module really is (hardware discovery) at every start, in a process of its',
    '# own so the heartbeat daemon stays small; "-": a failed publish (API down at boot) must never',
    '# keep the heartbeats from starting.',
    `ExecStartPre=-/usr/bin/env edgebox agent publish --node ${m.name} --spec ${AGENT_SPEC_PATH} --kubeconfig ${kubeconfig}`,
    '# The BMC login, where the box has a Turing Pi BMC ("-": none on firmware before 2.0).',
    `EnvironmentFile=-${BMC_ENV_PATH}`,
    '# --role-driver k3s: the agent takes its module between k3s-agent and k3s when the guardian asks',
    '# (docs/runbooks/control-plane.md).',
    '# --runtime k3s: cut off from most of its peers and from the API for failover.selfFenceSeconds,',
    '# it stops its singleton pods itself (freezes the kubelet, `k3s crictl stopp`) before the',
    '# controller lets their replacements start elsewhere (docs/runbooks/self-fence.md).',
    ...(fallbacks.length > 0
      ? [
          "# --api-servers: when the kubeconfig's server gives no answer (dead, demoted, or this module's own",
          '# K3s frozen by its self-fence), the next server that may serve.',
        ]
      : []),
    `ExecStart=/usr/bin/env edgebox agent run --spec ${AGENT_SPEC_PATH} --module ${m.name} --secret-file ${AGENT_SECRET_PATH} --kubeconfig ${kubeconfig}${fallbacks.length > 0 ? ` --api-servers ${fallbacks.join(',')}` : ''} --role-driver k3s --runtime k3s`,
    'Restart=always',
    'RestartSec=1',
    '# A busy module must still send its heartbeats on time, or it would look dead.',
    'Nice=-5',
    "# Read-only system but for what the role driver changes: K3s's config file and its etcd data.",
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ReadWritePaths=-/etc/rancher/k3s -/var/lib/rancher/k3s',
    "# /run/edgebox, writable and kept across agent restarts: the flag that lets K3s start (render's",
    "# k3s.service.d/10-edgebox.conf) and the snapshot client's token copy; /run is emptied at boot.",
    'RuntimeDirectory=edgebox',
    'RuntimeDirectoryPreserve=yes',
    '# /var/lib/edgebox, writable: the history of peripheral grants (`edgebox peripheral history`) and',
    "# the agent's incarnation counter (agent/incarnation).",
    'StateDirectory=edgebox',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
