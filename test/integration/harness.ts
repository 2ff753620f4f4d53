/**
 * Integration-test harness: a real local box (etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, KWOK) per test file, started by the same code as `edgebox local up`.
 *
 *   let box: Box;
 *   beforeAll(async () => { box = await startBox('examples/article-box.yaml', { timings: 'tuned' }); });
 *   afterAll(() => box?.stop());
 *
 * Missing binaries fail the test (never skip it) with the command that builds them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { formatDiagnostic } from '../../src/cli/print-diagnostics.js';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import type { TimingsName } from '../../src/local/components.js';
import { down } from '../../src/local/down.js';
import { kubeConfigFrom } from '../../src/local/kube-client.js';
import { up } from '../../src/local/up.js';

export interface Box {
  /** The box directory (a fresh temporary directory): state.json, kubeconfig, logs/. */
  dir: string;
  kubeconfigPath: string;
  kc: KubeConfig;
  /** Stops every component and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartBoxOptions {
  /** Failover timings. Default: 'default' (Kubernetes' own). */
  timings?: TimingsName;
}

/** Components of boxes not yet stopped, killed if the test process exits without `stop()`. */
const started = new Map<string, number[]>();
process.once('exit', () => {
  for (const pids of started.values()) {
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});

export async function startBox(specPath: string, opts: StartBoxOptions = {}): Promise<Box> {
  const dir = await mkdtemp(join(tmpdir(), 'edgebox-it-'));
  let kubeconfigPath: string;
  try {
    const result = await up(specPath, { dir, timings: opts.timings ?? 'default' });
    started.set(dir, result.state.components.map((c) => c.pid));
    kubeconfigPath = result.kubeconfig;
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    // Diagnostics carry the hint (e.g. "run `edgebox local setup`"); an Error message shows it.
    if (e instanceof EdgeboxError) throw new Error(e.diagnostics.map((d) => formatDiagnostic(d)).join('\n'));
    throw e;
  }
  return {
    dir,
    kubeconfigPath,
    kc: kubeConfigFrom(kubeconfigPath),
    async stop() {
      await down(dir);
      started.delete(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface EventuallyOptions {
  timeoutMs: number;
  /** Default: 250 ms. */
  intervalMs?: number;
  /** What was awaited, for the failure message. */
  message: string;
}

/**
 * Polls `fn` until it resolves (an assertion inside it that throws means "not yet") and returns
 * its value; after `timeoutMs` fails with `message` and the last error.
 */
export async function eventually<T>(fn: () => Promise<T>, opts: EventuallyOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for: ${opts.message}\nlast error: ${(last as Error)?.message ?? String(last)}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}
