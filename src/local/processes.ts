import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
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
 * A process the box started: a component binary, or (agents, controllers) Node running the
 * edgebox CLI script, which `script` names so that any other Node process is not taken for it.
 */
export interface ProcessRef {
  pid: number;
  bin: string;
  script?: string;
}

/**
 * Whether `pid` is still the process we started: alive, not a zombie, and (where /proc exists)
 * running our binary (and script), so a recycled pid is never taken for one of ours. /proc is read
 * synchronously: it is in memory, never a disk to wait for, and a promise read costs some 30
 * times more CPU (a module's agent checks its member's processes at each observation).
 */
export async function isRunning(pid: number, bin: string, script?: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\)\s+Z\s/.test(stat)) return false;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    // K3s retitles itself (`<argv[0]> server` in argv[0]'s place), as ps shows it.
    return (argv[0] === bin || argv[0]?.startsWith(`${bin} `) === true) && (script === undefined || argv[1] === script);
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
export async function stopProcesses(procs: readonly ProcessRef[], graceMs = 10_000): Promise<void> {
  signalGroups(await alive(procs), 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if ((await alive(procs)).length === 0) return;
    await sleep(200);
  }
  await killProcesses(procs);
}

/**
 * SIGKILL at once, as a power cut would: the process gets no chance to say goodbye (an agent
 * that told its peers it was leaving would make a kill look gentler than losing power).
 */
export async function killProcesses(procs: readonly ProcessRef[]): Promise<void> {
  signalGroups(await alive(procs), 'SIGKILL');
  const deadline = Date.now() + 5000;
  while ((await alive(procs)).length > 0 && Date.now() < deadline) await sleep(50);
}

/** Sends `signal` to the process group of each process still ours (SIGSTOP/SIGCONT freeze a module). */
export async function signalProcesses(procs: readonly ProcessRef[], signal: NodeJS.Signals): Promise<void> {
  signalGroups(await alive(procs), signal);
}

async function alive(procs: readonly ProcessRef[]): Promise<ProcessRef[]> {
  const checked = await Promise.all(procs.map(async (p) => ((await isRunning(p.pid, p.bin, p.script)) ? p : undefined)));
  return checked.filter((p): p is ProcessRef => p !== undefined);
}

function signalGroups(procs: readonly ProcessRef[], signal: NodeJS.Signals): void {
  for (const p of procs) {
    try {
      process.kill(-p.pid, signal);
    } catch {
      // Already gone between the check and the signal.
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
