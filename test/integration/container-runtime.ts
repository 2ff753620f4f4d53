/**
 * Integration-test harness: a container runtime on an SSH test host (ssh-hosts.ts), so the real
 * K3s agent (kubelet, kube-proxy) runs there as it does on a module. The K3s built here has no
 * embedded containerd (it is built without the `ctrd` tag, src/local/engine/k3s-build.ts), so the
 * host gets what a module's OS would give a K3s of that kind: Debian's containerd, runc and CNI
 * plugins (installed on this machine by .ci/run), run as the host's own `containerd` unit, with:
 * - the `native` snapshotter: the host's /var/lib is an overlay, which overlayfs cannot stack on;
 * - `restrict_oom_score_adj`: this machine does not let a process lower its oom_score_adj (runc
 *   fails with "can't get final child's PID from pipe: EOF" without it);
 * - a bridge CNI config of its own (the box's servers run `flannel-backend: none`);
 * - no registry: the sandbox (pause) image is built here, a static Go program that waits for a
 *   signal in an OCI archive, and imported into the host's containerd. Test pods use that image
 *   with `imagePullPolicy: Never`.
 * K3s's agent on the host gets the drop-in K3S_AGENT_DROP_IN: the runtime's socket, that image, and
 * the kubelet flags a host without systemd needs.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheRoot } from '../../src/local/cache.js';
import { eventually } from './harness.js';
import type { SshHosts } from './ssh-hosts.js';

const run = promisify(execFile);

export const PAUSE_IMAGE = 'edgebox.test/pause:1';

const PAUSE_SOURCE = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

// The pod sandbox's process: holds the pod's namespaces until it is told to stop.
func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
}
`;

const CONTAINERD_CONFIG = `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
`;

const CONTAINERD_UNIT = `[Unit]
Description=containerd, the test host's container runtime (test/integration/container-runtime.ts)

[Service]
ExecStart=/usr/bin/containerd --config /etc/containerd/config.toml
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;

const cniConfig = (subnet: string) =>
  JSON.stringify({
    cniVersion: '0.4.0',
    name: 'edgebox-test',
    plugins: [
      { type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] } },
    ],
  });

/** What K3s's agent on such a host must be told; install never touches config.yaml.d. */
export const K3S_AGENT_DROP_IN = [
  '# The test host: its own containerd (see test/integration/container-runtime.ts), no systemd.',
  'container-runtime-endpoint: unix:///run/containerd/containerd.sock',
  `pause-image: ${PAUSE_IMAGE}`,
  'kubelet-arg+:',
  '  - fail-swap-on=false',
  '  - cgroup-driver=cgroupfs',
  '  - cgroups-per-qos=false',
  '  - enforce-node-allocatable=',
  '',
].join('\n');

/**
 * The pause image as an OCI archive, built once per source and Go version into
 * `<cache>/test-images/`: the layer holds `/pause` alone, the config names it the entrypoint and
 * gives the platform (containerd requires both).
 */
export async function pauseImageArchive(): Promise<string> {
  const go = (await run('go', ['env', 'GOVERSION'])).stdout.trim();
  const key = createHash('sha256').update(`${go}\n${PAUSE_SOURCE}`).digest('hex').slice(0, 12);
  const out = join(cacheRoot(), 'test-images', `pause-${key}.tar`);
  if (await stat(out).catch(() => undefined)) return out;
  const work = await mkdtemp(join(tmpdir(), 'edgebox-pause-'));
  try {
    await writeFile(join(work, 'go.mod'), 'module pause\n\ngo 1.22\n');
    await writeFile(join(work, 'main.go'), PAUSE_SOURCE);
    await mkdir(join(work, 'rootfs'));
    await run('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(work, 'rootfs', 'pause'), '.'], {
      cwd: work,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '', GOOS: 'linux', GOARCH: 'amd64' },
    });
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-C', join(work, 'rootfs'), '-cf', join(work, 'layer.tar'), 'pause']);
    const layout = join(work, 'layout');
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    const blob = async (data: Buffer, mediaType: string) => {
      const hex = createHash('sha256').update(data).digest('hex');
      await writeFile(join(layout, 'blobs', 'sha256', hex), data);
      return { mediaType, digest: `sha256:${hex}`, size: data.length };
    };
    const layer = await blob(await readFile(join(work, 'layer.tar')), 'application/vnd.oci.image.layer.v1.tar');
    const config = await blob(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: { Entrypoint: ['/pause'] },
          rootfs: { type: 'layers', diff_ids: [layer.digest] },
        }),
      ),
      'application/vnd.oci.image.config.v1+json',
    );
    const manifest = await blob(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [layer] })),
      'application/vnd.oci.image.manifest.v1+json',
    );
    await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ ...manifest, annotations: { 'io.containerd.image.name': PAUSE_IMAGE, 'org.opencontainers.image.ref.name': '1' } }],
      }),
    );
    await mkdir(join(cacheRoot(), 'test-images'), { recursive: true });
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', layout, '-cf', `${out}.partial-${process.pid}`, 'oci-layout', 'index.json', 'blobs']);
    await rename(`${out}.partial-${process.pid}`, out);
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Gives `host` its container runtime: containerd's config, a bridge CNI network on `podSubnet`,
 * the unit enabled and started (a revive starts it again, as a boot would), the pause image
 * imported; then `config.yaml.d/90-test-host.yaml` for K3s's agent.
 */
export async function addContainerRuntime(hosts: SshHosts, host: string, podSubnet: string): Promise<void> {
  const image = await pauseImageArchive();
  // The host's /tmp is its own directory on this machine; this machine's home is not the host's.
  const root = hosts.hosts.find((h) => h.name === host)!.root;
  await copyFile(image, join(root, 'tmp', 'pause-image.tar'));
  const files: [string, string][] = [
    ['/etc/containerd/config.toml', CONTAINERD_CONFIG],
    ['/etc/cni/net.d/10-edgebox-test.conflist', cniConfig(podSubnet)],
    ['/etc/systemd/system/containerd.service', CONTAINERD_UNIT],
    ['/etc/rancher/k3s/config.yaml.d/90-test-host.yaml', K3S_AGENT_DROP_IN],
  ];
  for (const [path, text] of files) {
    const r = await hosts.exec(host, `mkdir -p $(dirname ${path}) && cat > ${path} <<'EOF'\n${text}\nEOF`);
    if (r.code !== 0) throw new Error(`writing ${path} on ${host}: ${r.stderr}`);
  }
  const started = await hosts.exec(host, 'systemctl enable --now containerd');
  if (started.code !== 0) throw new Error(`starting containerd on ${host}: ${started.stderr}`);
  await eventually(
    async () => {
      const r = await hosts.exec(host, `ctr --address /run/containerd/containerd.sock -n k8s.io images import --snapshotter native /tmp/pause-image.tar`);
      if (r.code !== 0) throw new Error(`ctr images import on ${host}: ${r.stderr}`);
    },
    { timeoutMs: 30_000, message: `containerd on ${host} serves and takes the pause image` },
  );
}

/**
 * Kills every container of the host's containerd. Before a host is killed or taken down: its
 * containers live in pod network namespaces and cgroups of their own (the kubelet's, beside the
 * host's), so the harness's kill, which empties the host's cgroup and network namespace, would
 * leave them running. A power cut would not.
 */
export async function stopContainers(hosts: SshHosts, host: string): Promise<void> {
  await hosts.exec(
    host,
    'for t in $(ctr --address /run/containerd/containerd.sock -n k8s.io tasks ls -q 2>/dev/null); do ctr --address /run/containerd/containerd.sock -n k8s.io tasks kill -s SIGKILL "$t"; done',
  );
}
