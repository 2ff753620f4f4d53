/**
 * One or more example invocations per command, by its words below the program ('' is
 * `edgebox` itself); buildProgram adds them to each command's --help as an `Example:` section.
 * A test walks every command and fails on one without.
 */
export const EXAMPLES: Record<string, readonly string[]> = {
  '': ['edgebox validate examples/turing-pi-2.yaml', 'edgebox plan examples/turing-pi-2.yaml', 'edgebox render examples/turing-pi-2.yaml --out rendered/'],
  validate: ['edgebox validate box.yaml', 'edgebox validate box.yaml -o json'],
  catalog: ['edgebox catalog', 'edgebox catalog -o yaml'],
  plan: ['edgebox plan box.yaml', 'edgebox plan box.yaml --all-scenarios', 'edgebox plan box.yaml -o json'],
  render: [
    'edgebox render box.yaml --out rendered/',
    'edgebox render box.yaml --chart charts/edgebox && helm template edgebox charts/edgebox',
    'edgebox render box-a.yaml box-b.yaml --gitops fleet --out fleet-repo/',
    'edgebox render box-a.yaml --gitops argocd --repo-url https://git.example.com/boxes.git --out argo-repo/',
  ],
  install: [
    'edgebox install box.yaml --ssh-key ~/.ssh/id_ed25519 --k3s-binary ./k3s-arm64 --dry-run',
    'edgebox install box.yaml --ssh-key ~/.ssh/id_ed25519 --k3s-binary ./k3s-arm64 --k3s-binary ./k3s',
  ],
  upgrade: ['edgebox upgrade box.yaml --k3s-binary ./k3s-arm64 --dry-run', 'edgebox upgrade box.yaml --k3s-binary ./k3s-arm64'],
  uninstall: ['edgebox uninstall box.yaml --dry-run', 'edgebox uninstall box.yaml --module motor-1'],
  apply: ['edgebox apply box.yaml --dry-run', 'edgebox apply box.yaml --kubeconfig ~/.kube/box --context box-admin'],
  local: ['edgebox local up examples/article-box.yaml', 'edgebox local kill jetson-1'],
  'local setup': ['edgebox local setup'],
  'local up': ['edgebox local up examples/article-box.yaml'],
  'local down': ['edgebox local down examples/article-box.yaml'],
  'local status': ['edgebox local status -o json'],
  'local kubeconfig': ['edgebox local kubeconfig', 'edgebox local kubeconfig --content > box.kubeconfig'],
  'local kill': ['edgebox local kill jetson-1'],
  'local revive': ['edgebox local revive jetson-1'],
  'local partition': ['edgebox local partition master-1,net-1 --one-way'],
  'local isolate': ['edgebox local isolate jetson-2'],
  'local heal': ['edgebox local heal', 'edgebox local heal jetson-2'],
  'local exec': [
    'edgebox local exec master-1 -- systemctl show --property=ActiveState k3s',
    "edgebox local exec master-1 -- sh -c 'ls /var/lib/rancher/k3s/server/db/snapshots'",
  ],
  'local host-command': ['edgebox local host-command master-1 -- systemctl is-active k3s'],
  agent: ['edgebox agent discover', 'edgebox agent config --spec box.yaml --module jetson-1'],
  'agent discover': ['edgebox agent discover -o json'],
  'agent publish': ['edgebox agent publish --node jetson-1 --spec /etc/edgebox/box.yaml'],
  'agent config': ['edgebox agent config --spec /etc/edgebox/box.yaml --module jetson-1'],
  'agent run': [
    'edgebox agent run --spec /etc/edgebox/box.yaml --module jetson-1 --secret-file /etc/edgebox/box-secret --kubeconfig /etc/edgebox/agent-kubeconfig.yaml',
  ],
  'agent secret': ['edgebox agent secret /etc/edgebox/box-secret'],
  'agent metrics-token': ['edgebox agent metrics-token /etc/edgebox/box-secret'],
  controller: ['edgebox controller --spec box.yaml --kubeconfig ~/.kube/box'],
  dashboard: ['edgebox dashboard --spec box.yaml', 'edgebox dashboard --local-dir ~/.cache/edgebox/boxes/article-box'],
  peripheral: ['edgebox peripheral move arm-bus rk1-b', 'edgebox peripheral check peripherals/*.jsonl'],
  'peripheral move': ['edgebox peripheral move arm-bus rk1-b --timeout 30'],
  'peripheral history': ['edgebox peripheral history arm-bus --kubeconfig ~/.kube/box'],
  'peripheral check': ['edgebox peripheral check peripherals/*.jsonl'],
  status: ['edgebox status --kubeconfig ~/.kube/box --context box-admin', 'edgebox status --dir ~/.cache/edgebox/boxes/article-box -o json'],
  drain: ['edgebox drain master-1 --kubeconfig ~/.kube/box'],
  completion: [
    'edgebox completion bash > /etc/bash_completion.d/edgebox',
    'edgebox completion zsh > ~/.edgebox-completion.zsh  # then: source it from ~/.zshrc',
    'edgebox completion fish | source',
  ],
};
