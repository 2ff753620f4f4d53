import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './apply-helpers.js';

export interface RunningDashboard {
  url: string;
  token: string;
  process: ChildProcess;
  /** Stops it (SIGTERM) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/** `edgebox dashboard ... --port 0` from the built CLI, as a user starts it; resolves once it printed its URL and token. */
export function startDashboardCli(args: string[]): Promise<RunningDashboard> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/edgebox.js'), 'dashboard', '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
  });
  let out = '';
  let err = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`edgebox dashboard printed no URL within 20 s\n${out}\n${err}`)), 20_000);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('exit', (code) => reject(new Error(`edgebox dashboard exited (${code})\n${out}\n${err}`)));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
      const token = /token for actions \(kill, revive\): (\S+)/.exec(out)?.[1];
      if (!url || !token) return;
      clearTimeout(timer);
      resolve({
        url,
        token,
        process: child,
        async stop() {
          if (child.exitCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}
