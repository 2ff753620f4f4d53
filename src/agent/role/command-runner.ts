import { execFile } from 'node:child_process';
import { rename, writeFile } from 'node:fs/promises';

export interface CommandResult {
  /** Exit code; 124 when the command ran out of time, 127 when it could not be started. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Killed (SIGKILL) after this long. Default 60 s. */
  timeoutMs?: number;
}

/**
 * Everything the k3s role driver does to its host goes through this, so its exact command
 * sequences are unit-tested with a recording fake and the runbook can list the same commands.
 */
export interface CommandRunner {
  /**
   * Runs `argv[0]` with the rest as its arguments, without a shell. Never throws: a failed,
   * missing or timed-out command is a result with a non-zero code, for the driver to explain.
   */
  run(argv: readonly string[], opts?: RunOptions): Promise<CommandResult>;
  /**
   * Replaces a file with `content`: written beside it, then renamed over it, so a service that
   * starts meanwhile reads the old file or the new one, never half of one.
   */
  writeFile(path: string, content: string, mode: number): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Enough for `systemctl show` and K3s's log lines; more is not what the driver reads. */
const MAX_OUTPUT_BYTES = 4 << 20;

/**
 * The real host: child_process and the filesystem. `env` is added to this process's environment
 * for every command (the local box runs K3s with a few of its own).
 */
export function hostRunner(o: { env?: Readonly<Record<string, string>> } = {}): CommandRunner {
  return {
    run(argv, opts = {}) {
      const [file, ...args] = argv;
      if (!file) return Promise.resolve({ code: 127, stdout: '', stderr: 'empty command' });
      const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      return new Promise((done) => {
        const env = o.env ? { env: { ...process.env, ...o.env } } : {};
        execFile(file, args, { ...env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' }, (err, stdout, stderr) => {
          if (!err) return done({ code: 0, stdout, stderr });
          const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
          if (e.killed) return done({ code: 124, stdout, stderr: `${stderr}\nno result within ${timeoutMs} ms: killed` });
          if (typeof e.code === 'number') return done({ code: e.code, stdout, stderr });
          done({ code: 127, stdout, stderr: `${stderr}${e.message}` });
        });
      });
    },
    async writeFile(path, content, mode) {
      const tmp = `${path}.edgebox-tmp`;
      await writeFile(tmp, content, { mode });
      await rename(tmp, path);
    },
  };
}
