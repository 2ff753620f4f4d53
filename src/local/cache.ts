import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Component, PackagingTool, Toolchain } from './toolchain.js';

/**
 * Where the local box keeps what it builds and runs, outside the repository:
 * `<cache>/<versions key>/bin` (binaries), `<cache>/<versions key>/stages` (KWOK stages),
 * `<cache>/boxes/<box name>` (one directory per running box).
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.EDGEBOX_CACHE ? resolve(env.EDGEBOX_CACHE) : join(homedir(), '.cache', 'edgebox');
}

export interface ToolchainPaths {
  root: string;
  bin: string;
  stages: string;
}

export function toolchainPaths(toolchain: Toolchain, root = cacheRoot()): ToolchainPaths {
  const base = join(root, toolchain.key);
  return { root: base, bin: join(base, 'bin'), stages: join(base, 'stages') };
}

export function binaryPath(paths: ToolchainPaths, name: Component | PackagingTool): string {
  return join(paths.bin, name);
}

export function boxesDir(root = cacheRoot()): string {
  return join(root, 'boxes');
}
