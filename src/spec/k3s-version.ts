/**
 * The K3s release a box pins (`spec.k3s.version`), and what each rendered setting needs of it.
 * Render installs exactly this release (INSTALL_K3S_VERSION) and refuses, when the spec is
 * loaded, a box whose rendered files the pinned release would not honour.
 */

/** The release edgebox renders for when the spec pins none: the oldest that honours every rendered setting. */
export const DEFAULT_K3S_VERSION = 'v1.32.5+k3s1';

/** A K3s release (`v1.32.5+k3s1`) or a build of a commit (`v1.31.1+k3s-c0d661b3`). */
export const K3S_VERSION_PATTERN = /^v(\d+)\.(\d+)\.(\d+)\+k3s[0-9A-Za-z.-]+$/;

export function k3sMinor(version: string): [number, number] | undefined {
  const m = K3S_VERSION_PATTERN.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export interface VersionRule {
  /** What render writes that needs the release. */
  setting: string;
  /** Lowest major.minor that honours it. */
  since: [number, number];
  why: string;
}

/**
 * Every module's config.yaml points the kubelet at edgebox-kubelet.conf (the node lease duration
 * has no flag); K3s merges that file over its own kubelet configuration only from v1.32 on.
 */
export const VERSION_RULES: readonly VersionRule[] = [
  {
    setting: 'the kubelet configuration file (kubelet-arg config=/etc/rancher/k3s/edgebox-kubelet.conf, for the tuned node lease duration)',
    since: [1, 32],
    why: 'K3s merges a kubelet config file over its own kubelet defaults from v1.32 on',
  },
];

/** The rules a pinned version breaks. Pure. */
export function unsupportedSettings(version: string): VersionRule[] {
  const v = k3sMinor(version);
  if (!v) return [];
  return VERSION_RULES.filter((r) => v[0] < r.since[0] || (v[0] === r.since[0] && v[1] < r.since[1]));
}
