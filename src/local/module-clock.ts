import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failure } from '../diagnostics/diagnostic.js';
import { moduleDir } from './server-layout.js';

/**
 * A wall clock of each module's own, for the clock faults real boxes have: a board without an RTC
 * boots with the wrong time and NTP steps it later. In a box started with `--clock-faults` every
 * agent (and what it starts: the module's etcd member and API server) runs under libfaketime with
 * `FAKETIME_DONT_FAKE_MONOTONIC`: its wall clock (Date.now, gettimeofday, CLOCK_REALTIME) is the
 * host's plus the offset in `<box>/modules/<m>/clock-offset`, re-read every second, while its
 * monotonic clock is untouched, as an NTP step leaves it. Nothing in edgebox is told about it.
 */

/** The offset file of a module (libfaketime's `FAKETIME_TIMESTAMP_FILE`). */
export function clockFile(dir: string, module: string): string {
  return join(moduleDir(dir, module), 'clock-offset');
}

/** libfaketime's multithreaded library (Node and Go runtimes are multithreaded), if installed. */
export function libfaketime(): string | undefined {
  const roots = ['/usr/lib', '/usr/local/lib'];
  for (const root of roots) {
    const direct = join(root, 'faketime', 'libfaketimeMT.so.1');
    if (existsSync(direct)) return direct;
    let entries: string[];
    try {
      entries = readdirSync(root);
    } catch {
      continue;
    }
    for (const e of entries) {
      const lib = join(root, e, 'faketime', 'libfaketimeMT.so.1');
      if (existsSync(lib)) return lib;
    }
  }
  return undefined;
}

/** libfaketime's relative format: seconds with a sign, to the millisecond. Pure. */
export function offsetText(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  return `${sign}${(Math.abs(offsetMs) / 1000).toFixed(3)}`;
}

/** The environment a module's agent runs with in a box with clock faults; the offset starts at 0. */
export async function clockEnv(dir: string, module: string): Promise<NodeJS.ProcessEnv> {
  const lib = libfaketime();
  if (!lib) {
    throw failure(
      'local.libfaketime-missing',
      'a box with --clock-faults runs its agents under libfaketime, which is not installed',
      'install it, e.g. `apt-get install -y faketime`',
    );
  }
  await setClockOffset(dir, module, 0);
  return {
    ...process.env,
    LD_PRELOAD: lib,
    FAKETIME_TIMESTAMP_FILE: clockFile(dir, module),
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
    // Re-read once a second: a step takes effect within a second, and a clock read stays cheap.
    FAKETIME_CACHE_DURATION: '1',
  };
}

/** Sets (steps) the module's wall clock to the host's plus `offsetMs`; written atomically. */
export async function setClockOffset(dir: string, module: string, offsetMs: number): Promise<void> {
  const file = clockFile(dir, module);
  await mkdir(moduleDir(dir, module), { recursive: true });
  await writeFile(`${file}.tmp`, `${offsetText(offsetMs)}\n`);
  await rename(`${file}.tmp`, file);
}
