/**
 * K3s's own systemd units, `k3s.service` (server) and `k3s-agent.service`, as K3s's install script
 * (get.k3s.io) writes them, for `edgebox install`, which installs K3s without running that script
 * (it downloads, and it runs as root whatever it is given). The same settings: Type=notify (K3s
 * reports ready itself), KillMode=process (stopping K3s leaves the pods' containers running, as a
 * K3s upgrade expects), Delegate=yes for the kubelet's cgroups, Restart=always. The command line
 * is bare: every setting is in /etc/rancher/k3s/config.yaml.
 */
export function renderK3sService(cmd: 'server' | 'agent'): string {
  const unit = cmd === 'server' ? 'k3s' : 'k3s-agent';
  return [
    `# Written by edgebox install: K3s's ${unit}.service as its install script writes it. Settings are in`,
    '# /etc/rancher/k3s/config.yaml; the edgebox agent switches a module between k3s and k3s-agent.',
    '[Unit]',
    'Description=Lightweight Kubernetes',
    'Documentation=https://k3s.io',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
    '[Service]',
    'Type=notify',
    `EnvironmentFile=-/etc/default/${unit}`,
    `EnvironmentFile=-/etc/sysconfig/${unit}`,
    `EnvironmentFile=-/etc/systemd/system/${unit}.service.env`,
    'KillMode=process',
    'Delegate=yes',
    'LimitNOFILE=1048576',
    'LimitNPROC=infinity',
    'LimitCORE=infinity',
    'TasksMax=infinity',
    'TimeoutStartSec=0',
    'Restart=always',
    'RestartSec=5s',
    'ExecStartPre=-/sbin/modprobe br_netfilter',
    'ExecStartPre=-/sbin/modprobe overlay',
    `ExecStart=/usr/local/bin/k3s ${cmd}`,
    '',
  ].join('\n');
}
