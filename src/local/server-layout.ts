import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerLayout } from './process-plan.js';
import { LOOPBACK } from './ports.js';
import { timingsFor, type TimingsName } from './timings.js';

/**
 * Where a local box keeps each module's control-plane member: its etcd data, its logs and the
 * pids of its etcd and kube-apiserver. The agent's `process` role driver starts and stops them,
 * `local up` starts the first servers the same way, and `down`, `status` and `kill` (any
 * invocation) find them here. Lean on purpose: the agent (60 MB budget) loads it.
 */

export function moduleDir(dir: string, module: string): string {
  return join(dir, 'modules', module);
}

/** The box's credentials: one CA, one serving certificate every API server shares, one token file, one service-account key. */
export function boxPki(dir: string): ServerLayout['pki'] & { caKey: string } {
  const pki = join(dir, 'pki');
  return {
    ca: join(pki, 'ca.crt'),
    caKey: join(pki, 'ca.key'),
    servingCert: join(pki, 'apiserver.crt'),
    servingKey: join(pki, 'apiserver.key'),
    tokenFile: join(pki, 'tokens.csv'),
    serviceAccountKey: join(pki, 'service-account.key'),
  };
}

/** What of the box state the layout needs (state.json, read without the box-state module's imports). */
export interface LayoutSource {
  dir: string;
  box: string;
  timings: TimingsName;
  binDir: string;
  ports: { server: ServerLayout['ports'] };
  addresses: Record<string, string>;
  controlPlane: { mode: 'spec' | 'single' };
}

/**
 * The member of a `single` control plane (`up --control-plane single`): on 127.0.0.1 and no
 * module's, so `local kill` never stops it, as in a box whose control plane is not the subject.
 */
export const HOST_MEMBER = 'control-plane';

/** Where each control-plane member may run: every module's address, or the host member alone in a `single` box. */
export function memberAddresses(src: Pick<LayoutSource, 'addresses' | 'controlPlane'>): Record<string, string> {
  return src.controlPlane?.mode === 'single' ? { [HOST_MEMBER]: LOOPBACK } : src.addresses;
}

export async function readLayoutSource(dir: string): Promise<LayoutSource> {
  return JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as LayoutSource;
}

export function serverLayout(src: LayoutSource, module: string): ServerLayout {
  const address = memberAddresses(src)[module];
  if (!address) throw new Error(`box '${src.box}' runs no control-plane member on '${module}'`);
  const t = timingsFor(src.timings);
  const { caKey: _caKey, ...pki } = boxPki(src.dir);
  return {
    module,
    address,
    ports: src.ports.server,
    clusterToken: `edgebox-${src.box}`,
    dataDir: join(moduleDir(src.dir, module), 'etcd'),
    bin: { etcd: join(src.binDir, 'etcd'), apiserver: join(src.binDir, 'kube-apiserver') },
    logs: { etcd: join(src.dir, 'logs', `etcd-${module}.log`), apiserver: join(src.dir, 'logs', `kube-apiserver-${module}.log`) },
    pki,
    timings: { defaultTolerationSeconds: t.defaultTolerationSeconds, etcdHeartbeatMs: t.etcdHeartbeatMs, etcdElectionTimeoutMs: t.etcdElectionTimeoutMs },
  };
}

export interface ServerProcess {
  pid: number;
  bin: string;
  log: string;
  /** Where this run's output starts in `log` (a K3s log is appended to by every start). */
  logFrom?: number;
}

/** `<box dir>/modules/<module>/control-plane.json`: the module's running member processes. */
export interface ServerRecord {
  etcd?: ServerProcess;
  apiserver?: ServerProcess;
  /** The K3s engine's `k3s server` (src/local/engine/k3s-engine.ts): etcd, API server and controllers in one. */
  k3s?: ServerProcess;
}

const recordFile = (dir: string, module: string) => join(moduleDir(dir, module), 'control-plane.json');

export async function readServerRecord(dir: string, module: string): Promise<ServerRecord> {
  try {
    return JSON.parse(await readFile(recordFile(dir, module), 'utf8')) as ServerRecord;
  } catch {
    return {};
  }
}

/** Atomic, so `down` from another process never reads half a record. */
export async function writeServerRecord(dir: string, module: string, record: ServerRecord): Promise<void> {
  await mkdir(moduleDir(dir, module), { recursive: true });
  const file = recordFile(dir, module);
  await writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}
