/**
 * The pure part of getting K3s for the local box (docs/decisions/0009-k3s-engine.md): which
 * version a source tree is, and the `go build` that makes a control-plane-capable `k3s` binary
 * from it. `k3s-setup.ts` runs it; unit tests check the command line, since a real build takes
 * about 13 minutes of two cores.
 */

const PKG = 'github.com/k3s-io/k3s';

/**
 * Build tags: K3s's own minus `ctrd` (no embedded containerd: no kubelet runs here), `apparmor`
 * and `seccomp` (runc's, only with containerd). `netcgo osusergo` are K3s's choice for its
 * resolver and user lookups, `providerless` drops the cloud providers, `urfave_cli_no_docs` the
 * CLI's man-page generator.
 */
export const K3S_BUILD_TAGS = ['netcgo', 'osusergo', 'providerless', 'urfave_cli_no_docs'] as const;

export interface K3sSource {
  /** The unpacked tree: holds go.mod and cmd/server. */
  dir: string;
  /** Short commit the tree is at (`c0d661b3`), from its directory or tarball name. */
  commit: string;
  /** The Kubernetes release K3s vendors: the `k8s.io/kubernetes` replace target (`v1.31.1-k3s3`). */
  kubernetes: string;
}

/** `k8s.io/kubernetes => github.com/k3s-io/kubernetes v1.31.1-k3s3` of a K3s go.mod. */
export function vendoredKubernetes(gomod: string): string | undefined {
  return /^\s*k8s\.io\/kubernetes\s+=>\s+\S+\s+(v\S+)/m.exec(gomod)?.[1];
}

/** The commit in a K3s tree's or tarball's name: `k3s-c0d661b3`, `k3s-src-c0d661b3.tar.gz`. */
export function commitFromName(name: string): string | undefined {
  return /k3s-(?:src-)?([0-9a-f]{7,40})(?:\.tar\.gz|\.tgz)?$/.exec(name)?.[1];
}

/**
 * The version a build from source reports, in K3s's own form for an untagged commit:
 * `v1.31.1+k3s-c0d661b3` (the Kubernetes release, then the commit). It names the cache directory.
 */
export function k3sVersion(src: Pick<K3sSource, 'commit' | 'kubernetes'>): string {
  const k8s = src.kubernetes.replace(/-k3s\d+$/, '');
  return `${k8s}+k3s-${src.commit.slice(0, 8)}`;
}

/**
 * What `k3s --version` prints first: `k3s version v1.31.1+k3s-c0d661b3 (c0d661b3)`. The first word
 * is the name the binary was run by (it answers to its argv[0]): `k3s-arm64 version ...` for the
 * release's arm64 file, `k3s.partial-<pid> version ...` for a build not yet renamed.
 */
export function parseK3sVersion(output: string): string | undefined {
  return /^\S*k3s\S* version (v\S+) \(/m.exec(output)?.[1];
}

export interface GoBuild {
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

/**
 * `go build ./cmd/server` inside the tree, so its go.mod replaces (K3s's forks of Kubernetes and
 * etcd) apply. CGO on: K3s's `netcgo` and its sqlite (kine) need it. Without
 * `pkg/version.UpstreamGolang` the server refuses to start ("kubernetes golang build version not
 * set"); the client-go and component-base versions make `/version` and the member checks honest.
 */
export function k3sBuildCommand(o: { source: K3sSource; goVersion: string; out: string }): GoBuild {
  const version = k3sVersion(o.source);
  const commit = o.source.commit;
  const x = (pkg: string, value: string) => `-X ${pkg}=${value}`;
  const ldflags = [
    '-s -w',
    x(`${PKG}/pkg/version.Version`, version),
    x(`${PKG}/pkg/version.GitCommit`, commit.slice(0, 8)),
    x(`${PKG}/pkg/version.UpstreamGolang`, o.goVersion),
    ...['k8s.io/client-go/pkg/version', 'k8s.io/component-base/version'].flatMap((p) => [
      x(`${p}.gitVersion`, version),
      x(`${p}.gitCommit`, commit),
      x(`${p}.gitTreeState`, 'clean'),
    ]),
  ].join(' ');
  return {
    args: ['build', '-trimpath', '-tags', K3S_BUILD_TAGS.join(' '), '-ldflags', ldflags, '-o', o.out, './cmd/server'],
    env: { CGO_ENABLED: '1', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod -buildvcs=false' },
    cwd: o.source.dir,
  };
}
