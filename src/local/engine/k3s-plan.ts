import { createHash } from 'node:crypto';

/**
 * The pure part of the K3s engine (docs/decisions/0009-k3s-engine.md): where each server module
 * lives on the box's private network, and what the local box changes in the `config.yaml` that
 * `edgebox render` wrote for the module. Everything else is the rendered file, unchanged.
 */

/** K3s's supervisor and API port: every server listens on its own address in its own namespace. */
export const K3S_API_PORT = 6443;

export interface K3sMember {
  /** `ip netns` name: the module's own network stack (K3s binds 127.0.0.1 listeners whatever its flags say). */
  netns: string;
  /** Host end of the veth pair, on the box's bridge. */
  veth: string;
  /** The module's address inside its namespace, on the box's private /24. */
  address: string;
}

export interface K3sNetwork {
  /** Host bridge joining the modules' namespaces; the host reaches them through it. */
  bridge: string;
  /** The host end's address on the private /24 (`.1`). */
  hostAddress: string;
  prefixLength: 24;
  members: Record<string, K3sMember>;
}

/**
 * 10.213.X.0/24, X from the box directory, so two boxes get different networks (and names): a
 * range that exists only on the bridge and in the namespaces the box creates, never routed
 * beyond this machine. Interface names stay within Linux's 15 characters.
 */
export function k3sNetwork(boxDir: string, modules: readonly string[]): K3sNetwork {
  const x = createHash('sha256').update(boxDir).digest().readUInt16BE(0) % 250;
  if (modules.length > 250) throw new Error('a K3s-engine box has at most 250 server-capable modules');
  return {
    bridge: `ebk${x}`,
    hostAddress: `10.213.${x}.1`,
    prefixLength: 24,
    members: Object.fromEntries(modules.map((m, i) => [m, { netns: `edgebox-${x}-${i}`, veth: `ebk${x}v${i}`, address: `10.213.${x}.${i + 2}` }])),
  };
}

export interface LocalOverrides {
  /** The module's address in its namespace. */
  address: string;
  /** The first server's URL, for a module whose rendered config joins one (`server:`). */
  joinUrl?: string;
  dataDir: string;
  /** Where K3s writes its admin kubeconfig (instead of /etc/rancher/k3s/k3s.yaml). */
  kubeconfig: string;
  /** The box's static admin token file: the box's kubeconfig, KWOK and the API proxy use it. */
  tokenFile: string;
}

/**
 * The drop-in (`config.yaml.d/90-edgebox-local.yaml`, which K3s merges over `config.yaml`) with
 * what a test box must change, each for a reason:
 * - address, join URL, data dir, kubeconfig: the module's place on this machine;
 * - `disable-agent`: no kubelet or containerd can run here; the module's Node is a KWOK node;
 * - `flannel-backend: none` and the disabled packaged components: with no agent, K3s would wait
 *   for the CNI binaries of its bundle, and nothing would run their pods;
 * - `egress-selector-mode: disabled`: there are no agents' tunnels to send through;
 * - the token file, appended to the API server's arguments (`+`), keeps the rendered ones.
 */
export function localOverrides(o: LocalOverrides): Record<string, unknown> {
  return {
    'node-ip': o.address,
    ...(o.joinUrl ? { server: o.joinUrl } : {}),
    'data-dir': o.dataDir,
    'write-kubeconfig': o.kubeconfig,
    'disable-agent': true,
    'flannel-backend': 'none',
    disable: ['traefik', 'servicelb', 'metrics-server', 'local-storage', 'coredns'],
    'disable-helm-controller': true,
    'disable-network-policy': true,
    'disable-cloud-controller': true,
    'egress-selector-mode': 'disabled',
    'kube-apiserver-arg+': [`token-auth-file=${o.tokenFile}`],
  };
}

export const apiUrl = (address: string): string => `https://${address}:${K3S_API_PORT}`;

/**
 * A `k3s` command on a module: in the module's network namespace (`ip netns exec` also gives it a
 * mount namespace of its own, slave to the host's), with an overlay on /etc whose upper layer is
 * the module's own, so K3s finds the rendered files at their real paths (/etc/rancher/k3s/...)
 * and its writes (/etc/rancher/node/password) stay the module's. The shell `exec`s K3s, so the
 * recorded pid is K3s's. NODE_NAME is what K3s's agent would set: with it, K3s's etcd metadata
 * controller labels and annotates the module's (KWOK) Node, which its member controller needs to
 * remove the member when the Node is deleted or annotated.
 */
export function moduleCommand(
  o: { netns: string; etcUpper: string; etcWork: string; bin: string; module: string; beside?: readonly [string, string, string, string] },
  argv: readonly string[],
) {
  // $1 $2: the /etc layer; $3..$6: a process started in the background first (or four empty
  // strings); the rest: the command K3s's pid becomes.
  const script = [
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc || exit 1',
    'shift 2',
    'if [ -n "$1" ]; then "$1" "$2" "$3" "$4" & fi',
    'shift 4',
    'exec "$@"',
  ].join('\n');
  return {
    bin: 'ip',
    args: ['netns', 'exec', o.netns, 'sh', '-c', script, 'edgebox-k3s', o.etcUpper, o.etcWork, ...(o.beside ?? ['', '', '', '']), o.bin, ...argv],
    env: { NODE_NAME: o.module },
  };
}

/**
 * The module's `k3s server` (its unit's command line), with any extra arguments (`--cluster-reset`)
 * and, beside it, what must run with it (the etcd gateway forwarder: etcd-forward-process.ts).
 */
export function serverCommand(o: {
  netns: string;
  etcUpper: string;
  etcWork: string;
  bin: string;
  module: string;
  args?: string[];
  beside?: readonly [string, string, string, string];
}) {
  return moduleCommand(o, ['server', ...(o.args ?? [])]);
}

/** Where the paths of a real module live for one module of a local box. */
export interface ModuleRoots {
  /** The module's /etc layer (its /etc/rancher/... files). */
  etc: string;
  /** The module's K3s data dir (`/var/lib/rancher/k3s` on a module). */
  dataDir: string;
  /** The module's /run/edgebox. */
  run: string;
}

const ROOTS: [string, keyof ModuleRoots][] = [
  ['/var/lib/rancher/k3s', 'dataDir'],
  ['/run/edgebox', 'run'],
  ['/etc', 'etc'],
];

/**
 * A path on a module, as this machine holds it for a local box's module (`/etc/rancher/k3s/x` ->
 * `<etc layer>/rancher/k3s/x`). Any other argument is returned as it is; only whole path
 * components match (`/etcetera` is not under `/etc`).
 */
export function onModule(arg: string, roots: ModuleRoots): string {
  // A path given as a flag's value in one word (`--cluster-reset-restore-path=/var/lib/...`).
  const flag = /^(--[\w-]+=)(\/.*)$/.exec(arg);
  if (flag) return `${flag[1]}${onModule(flag[2]!, roots)}`;
  for (const [prefix, root] of ROOTS) {
    if (arg === prefix) return roots[root];
    if (arg.startsWith(`${prefix}/`)) return `${roots[root]}${arg.slice(prefix.length)}`;
  }
  return arg;
}

/**
 * The `server:` a module's K3s is started with in a local box. The config the role driver (or
 * render) wrote names the real box's addresses: the API virtual address or a module's address,
 * which must never be dialled from here. A box-local address is kept; anything else stands for
 * "a live server of the box", which is what the API address gives on a real box (kube-vip moves it
 * to a live server): the first running server of `running` that is not this module.
 */
export function localJoinUrl(o: {
  configured?: string;
  module: string;
  members: Record<string, { address: string }>;
  running: readonly string[];
}): string | undefined {
  if (!o.configured) return undefined;
  const host = URL.canParse(o.configured) ? new URL(o.configured).hostname : '';
  if (Object.values(o.members).some((m) => m.address === host)) return o.configured;
  const live = o.running.find((m) => m !== o.module && o.members[m]);
  const fallback = Object.keys(o.members).find((m) => m !== o.module);
  const to = live ?? fallback;
  return to ? apiUrl(o.members[to]!.address) : undefined;
}

/**
 * The config.yaml keys K3s ignored: it does not refuse an unknown key, it logs
 * `Unknown flag --<key> found in config.yaml, skipping` and starts without it. A rendered setting
 * the release does not know would then be silently lost, so the engine treats these as refusals.
 */
export function refusedFlags(log: string): string[] {
  return [...new Set([...log.matchAll(/Unknown flag (--?[\w-]+) found in config\.yaml/g)].map((m) => m[1]!))];
}
