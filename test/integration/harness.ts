/**
 * Integration-test harness: a real local box (etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, KWOK; with `withAgents`/`withController` also the agents and controllers) per
 * test file, started by the same code as `edgebox local up`.
 *
 *   let box: Box;
 *   beforeAll(async () => { box = await startBox('examples/article-box.yaml', { timings: 'tuned' }); });
 *   afterAll(() => box?.stop());
 *
 * Missing binaries fail the test (never skip it) with the command that builds them.
 */
import type { EngineName } from '../../src/local/engine/engine.js';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { formatDiagnostic } from '../../src/cli/print-diagnostics.js';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { statePath, type BoxState, type ControlPlaneMode } from '../../src/local/box-state.js';
import { memberAddresses, moduleDir, type ServerRecord } from '../../src/local/server-layout.js';
import type { TimingsName } from '../../src/local/timings.js';
import { down } from '../../src/local/down.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { freeUdpPortOn } from '../../src/local/ports.js';
import { localAddresses } from '../../src/local/simulated-nodes.js';
import { up } from '../../src/local/up.js';
import { loadSpec } from '../../src/spec/load.js';

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
  /** One `edgebox agent run` per module. Default: false. */
  withAgents?: boolean;
  /** `edgebox controller`. Default: false. */
  withController?: boolean;
  /** How many controllers with `withController`. Default: 1. */
  controllers?: number;
  /** `single`: one etcd + API server whatever the spec says (tests whose subject is not the control plane). Default: 'spec'. */
  controlPlane?: ControlPlaneMode;
  /** What runs the control plane (src/local/engine). Default: 'process'. */
  engine?: EngineName;
}

/** Each module's etcd and API server (the role drivers record them per module), read synchronously at exit. */
function serverProcessesSync(dir: string, state: BoxState): { pid: number }[] {
  return Object.keys(memberAddresses(state)).flatMap((m) => {
    try {
      const r = JSON.parse(readFileSync(join(moduleDir(dir, m), 'control-plane.json'), 'utf8')) as ServerRecord;
      return [r.apiserver, r.etcd, r.k3s].filter((p): p is { pid: number; bin: string; log: string } => p !== undefined);
    } catch {
      return [];
    }
  });
}

/**
 * Boxes not yet stopped; their processes are killed if the test process exits without `stop()`.
 * Read from the state file then, not remembered: `revive` and restarts change the pids.
 */
const started = new Set<string>();
process.once('exit', () => {
  for (const dir of started) {
    let state: BoxState;
    try {
      state = JSON.parse(readFileSync(statePath(dir), 'utf8')) as BoxState;
    } catch {
      continue;
    }
    for (const p of [...(state.controllers ?? []), ...(state.agents ?? []), ...state.components, ...serverProcessesSync(dir, state)]) {
      try {
        process.kill(-p.pid, 'SIGKILL');
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
    started.add(dir);
    const result = await up(specPath, {
      dir,
      timings: opts.timings ?? 'default',
      withAgents: opts.withAgents ?? false,
      // A free port, not the spec's: another box on this machine (a CI run beside a developer's)
      // would hold the spec's port on the same 127.0.1.N addresses.
      ...(opts.withAgents ? { agentPort: await freeUdpPortOn(Object.values(localAddresses((await loadSpec(specPath)).box))) } : {}),
      withController: opts.withController ?? false,
      controllers: opts.controllers ?? 1,
      controlPlane: opts.controlPlane ?? 'spec',
      ...(opts.engine ? { engine: opts.engine } : {}),
    });
    kubeconfigPath = result.kubeconfig;
  } catch (e) {
    started.delete(dir);
    await rm(dir, { recursive: true, force: true });
    // Diagnostics carry the hint (e.g. "run `edgebox local setup`"); an Error message shows it.
    if (e instanceof EdgeboxError) throw new Error(e.diagnostics.map((d) => formatDiagnostic(d)).join('\n'), { cause: e });
    throw e;
  }
  return {
    dir,
    kubeconfigPath,
    kc: loadKubeConfig({ path: kubeconfigPath }),
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
