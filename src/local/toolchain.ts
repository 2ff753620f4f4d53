import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { failure } from '../diagnostics/diagnostic.js';

/**
 * What `edgebox local setup` builds and from where. The tool modules (`local/toolchain/<name>/go.mod`)
 * are the single source of the versions: the cache key and the `--version` checks are read from
 * them, so bumping a version in go.mod is all it takes to get a fresh build.
 */

/** The three tool modules shipped in the npm package (package.json `files`). */
export const TOOL_MODULES = ['kubernetes', 'etcd', 'kwok'] as const;
export type ToolModule = (typeof TOOL_MODULES)[number];

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
export type Component = (typeof COMPONENTS)[number];

/** The Go module each tool module exists to build; its required version is the one we build. */
const UPSTREAM: Record<ToolModule, string> = {
  kubernetes: 'k8s.io/kubernetes',
  etcd: 'go.etcd.io/etcd/server/v3',
  kwok: 'sigs.k8s.io/kwok',
};

export interface BinarySpec {
  name: Component | PackagingTool;
  module: ToolModule | PackagingTool;
  /** Main package to build. */
  pkg: string;
  ldflags: string;
  /** A substring `<binary> <versionArgs>` prints when the binary is the version we want. */
  versionMark: string;
  /** How to ask the binary its version. Default: `--version`. */
  versionArgs?: string[];
}

export interface Toolchain {
  /** `<package root>/local/toolchain`. */
  dir: string;
  /** Minimum Go release the tool modules declare (`go 1.26.0`). */
  goVersion: string;
  versions: Record<string, string>;
  /** Directory name under the cache, one per version set: `kubernetes-v1.36.3_etcd-v3.6.16_kwok-v0.8.0`. */
  key: string;
  binaries: BinarySpec[];
}

/**
 * The package root, found from this file's location: `dist/local/` once built, `src/local/` when
 * the tests run the sources; both are two levels below the root.
 */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export async function loadToolchain(root = packageRoot()): Promise<Toolchain> {
  const dir = join(root, 'local', 'toolchain');
  const gomods = {} as Record<ToolModule, string>;
  for (const m of TOOL_MODULES) {
    const file = join(dir, m, 'go.mod');
    try {
      gomods[m] = await readFile(file, 'utf8');
    } catch {
      throw failure(
        'local.toolchain-missing',
        `the tool module ${file} is missing`,
        'reinstall edgebox: local/toolchain ships in the npm package and in the repository',
      );
    }
  }
  const versions = {} as Record<ToolModule, string>;
  for (const m of TOOL_MODULES) versions[m] = requiredVersion(gomods[m], UPSTREAM[m], join(dir, m, 'go.mod'));
  const goVersion = /^go\s+(\S+)/m.exec(gomods.kubernetes)?.[1] ?? '1.26.0';

  const k8s = versions.kubernetes;
  const [major, minor] = k8s.replace(/^v/, '').split('.');
  // `-X` makes `/version` and `--version` honest: without it a module build reports v0.0.0.
  const k8sFlags = `-s -w -X k8s.io/component-base/version.gitVersion=${k8s} -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor}`;
  const kube = (name: Component): BinarySpec => ({
    name,
    module: 'kubernetes',
    pkg: `k8s.io/kubernetes/cmd/${name}`,
    ldflags: k8sFlags,
    versionMark: `Kubernetes ${k8s}`,
  });
  const binaries: BinarySpec[] = [
    { name: 'etcd', module: 'etcd', pkg: UPSTREAM.etcd, ldflags: '-s -w', versionMark: `etcd Version: ${versions.etcd.replace(/^v/, '')}` },
    kube('kube-apiserver'),
    kube('kube-controller-manager'),
    kube('kube-scheduler'),
    { name: 'kwok', module: 'kwok', pkg: `${UPSTREAM.kwok}/cmd/kwok`, ldflags: '-s -w', versionMark: `kwok version ${versions.kwok}` },
  ];
  const key = TOOL_MODULES.map((m) => `${m}-${versions[m]}`).join('_');
  return { dir, goVersion, versions, key, binaries };
}

function requiredVersion(gomod: string, modulePath: string, file: string): string {
  const escaped = modulePath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const m = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(gomod);
  if (!m?.[1]) {
    throw failure('local.toolchain-invalid', `${file} does not require ${modulePath}`, `add 'require ${modulePath} <version>' to ${file}`);
  }
  return m[1];
}

/**
 * The tools that build and check the packaging (`helm` renders the chart, `crane` checks the
 * controller's OCI image, `promtool` the alert rules and the dashboard's queries), one tool
 * module each beside the box's. A set of their own, cached under their own versions key, so that
 * adding or bumping one never rebuilds the control plane.
 */
export const PACKAGING_TOOLS = ['helm', 'crane', 'promtool'] as const;
export type PackagingTool = (typeof PACKAGING_TOOLS)[number];

const PACKAGING_UPSTREAM: Record<
  PackagingTool,
  { module: string; pkg: string; ldflags: (v: string) => string; versionMark: (v: string) => string; versionArgs?: string[] }
> = {
  // Without -X a module build of helm calls itself v4.3, not the patch release.
  helm: {
    module: 'helm.sh/helm/v4',
    pkg: 'helm.sh/helm/v4/cmd/helm',
    ldflags: (v) => `-s -w -X helm.sh/helm/v4/internal/version.version=${v}`,
    versionMark: (v) => `Version:"${v}"`,
  },
  crane: {
    module: 'github.com/google/go-containerregistry',
    pkg: 'github.com/google/go-containerregistry/cmd/crane',
    // crane's own version variable, read by `crane version`.
    ldflags: (v) => `-s -w -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=${v}`,
    versionMark: (v) => v,
  },
  // Prometheus's module versions are v0.3xx.y for its 3.x releases.
  promtool: {
    module: 'github.com/prometheus/prometheus',
    pkg: 'github.com/prometheus/prometheus/cmd/promtool',
    ldflags: (v) => `-s -w -X github.com/prometheus/common/version.Version=${v}`,
    versionMark: (v) => `version ${v}`,
    versionArgs: ['--version'],
  },
};

export async function loadPackagingToolchain(root = packageRoot()): Promise<Toolchain> {
  const dir = join(root, 'local', 'toolchain');
  const versions: Record<string, string> = {};
  let goVersion = '1.26.0';
  for (const t of PACKAGING_TOOLS) {
    const file = join(dir, t, 'go.mod');
    const gomod = await readFile(file, 'utf8').catch(() => {
      throw failure(
        'local.toolchain-missing',
        `the tool module ${file} is missing`,
        'reinstall edgebox: local/toolchain ships in the npm package and in the repository',
      );
    });
    versions[t] = requiredVersion(gomod, PACKAGING_UPSTREAM[t].module, file);
    // The newest any tool module needs.
    const needs = /^go\s+(\S+)/m.exec(gomod)?.[1];
    if (needs && needs.localeCompare(goVersion, 'en', { numeric: true }) > 0) goVersion = needs;
  }
  const binaries: BinarySpec[] = PACKAGING_TOOLS.map((t) => ({
    name: t,
    module: t,
    pkg: PACKAGING_UPSTREAM[t].pkg,
    ldflags: PACKAGING_UPSTREAM[t].ldflags(versions[t]!),
    versionMark: PACKAGING_UPSTREAM[t].versionMark(versions[t]!),
    versionArgs: PACKAGING_UPSTREAM[t].versionArgs ?? ['version'],
  }));
  return { dir, goVersion, versions, key: PACKAGING_TOOLS.map((t) => `${t}-${versions[t]}`).join('_'), binaries };
}
