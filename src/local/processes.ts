import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * The box's components are detached children: each leads its own process group and outlives the
 * `edgebox local up` that started it, so `down`, `status` and `kill` from later invocations find
 * them by the pid recorded in the box state.
 */
export function spawnDetached(opts: { bin: string; args: string[]; log: string; env?: NodeJS.ProcessEnv; cwd: string }): number {
  const fd = openSync(opts.log, 'a');
  try {
    const child = spawn(opts.bin, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    // Without a pid the spawn failed synchronously (e.g. the binary vanished); the caller reports it.
    if (child.pid === undefined) throw new Error(`could not start ${opts.bin}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `pid` is still the component we started: alive, not a zombie, and (where /proc exists)
 * running our binary, so a recycled pid is never taken for one of ours.
 */
export async function isRunning(pid: number, bin: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\)\s+Z\s/.test(stat)) return false;
    const argv0 = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0];
    return argv0 === bin;
  } catch {
    // No /proc (macOS): the signal check is all there is.
    return true;
  }
}

/** Resident memory in bytes (Linux /proc), or undefined where it cannot be read. */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * SIGTERM, then SIGKILL for whatever has not exited after `graceMs`. Signals go to the process
 * group the component leads (it was spawned detached), and only after checking the pid is still ours.
 */
export async function stopProcesses(procs: readonly { pid: number; bin: string }[], graceMs = 10_000): Promise<void> {
  const alive = async () => (await Promise.all(procs.map(async (p) => ((await isRunning(p.pid, p.bin)) ? p : undefined))))
    .filter((p): p is { pid: number; bin: string } => p !== undefined);
  const signal = (ps: readonly { pid: number }[], sig: NodeJS.Signals) => {
    for (const p of ps) {
      try {
        process.kill(-p.pid, sig);
      } catch {
        // Already gone between the check and the signal.
      }
    }
  };
  signal(await alive(), 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if ((await alive()).length === 0) return;
    await sleep(200);
  }
  signal(await alive(), 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while ((await alive()).length > 0 && Date.now() < killDeadline) await sleep(100);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
