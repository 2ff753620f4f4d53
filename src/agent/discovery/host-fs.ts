import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The few file operations discovery needs, with paths relative to the module's root (`proc/cpuinfo`,
 * not `/proc/cpuinfo`). The real root and the test fixtures go through the same code; every
 * reader treats "missing" and "unreadable" alike, because on a module both mean "cannot tell".
 */
export interface HostFs {
  /** The file's text, or undefined when it is missing or unreadable. */
  readFile(path: string): Promise<string | undefined>;
  /** The directory's entry names, sorted; empty when it is missing or unreadable. */
  readdir(path: string): Promise<string[]>;
  /** Whether the path exists (following symlinks; a dangling link does not exist). */
  exists(path: string): Promise<boolean>;
  /** A symlink's target as stored, or undefined when the path is no symlink. */
  readlink(path: string): Promise<string | undefined>;
}

/** A HostFs over a directory of this machine: `/` for the module itself, or a fixture tree. */
export function hostFs(root: string): HostFs {
  const at = (path: string) => join(root, path);
  return {
    readFile: (path) => readFile(at(path), 'utf8').catch(() => undefined),
    readdir: (path) =>
      readdir(at(path)).then(
        (names) => names.sort(),
        () => [],
      ),
    exists: (path) =>
      stat(at(path)).then(
        () => true,
        () => false,
      ),
    readlink: (path) => readlink(at(path)).catch(() => undefined),
  };
}
