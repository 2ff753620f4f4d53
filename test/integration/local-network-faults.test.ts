/**
 * The local box's network faults on real processes: every module's processes run in the module's
 * cgroup, and `isolate` / `partition` drop their packets by it, so a server module cut off loses
 * its etcd peer and client traffic and its API server too, not only its heartbeats. Probed from
 * inside the modules' cgroups with plain TCP connects, and by what the box itself shows (the KWOK
 * label of a module that lost the API).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState, type BoxState } from '../../src/local/box-state.js';
import { joinModuleCgroup } from '../../src/local/module-cgroup.js';
import { healModules, isolateModule, listCuts, partitionModules } from '../../src/local/partition.js';
import { KWOK_SELECTOR } from '../../src/local/simulated-nodes.js';
import { ROOT } from './apply-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

const SPEC = join(ROOT, 'test/fixtures/control-plane-4.yaml');

let box: Box;
let state: BoxState;

beforeAll(async () => {
  box = await startBox(SPEC, { withAgents: true });
  state = (await readState(box.dir))!;
}, 240_000);
afterAll(async () => {
  await healModules(box.dir).catch(() => undefined);
  await box?.stop();
}, 60_000);

/**
 * Whether a TCP connection from inside `module`'s cgroup (or the host's, with none) to
 * host:port is established within 1.5 s. The probe is put in the cgroup before it opens its socket.
 */
function connects(from: string | undefined, host: string, port: number): Promise<boolean> {
  const script = `const s=require('net').connect({host:'${host}',port:${port}});const t=setTimeout(()=>process.exit(1),1500);s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));`;
  return new Promise((done) => {
    const child = spawn('sh', ['-c', `sleep 0.2; exec "${process.execPath}" -e "${script}"`], { stdio: 'ignore' });
    if (from) joinModuleCgroup(box.dir, from, child.pid!);
    child.on('exit', (code) => done(code === 0));
  });
}

const address = (m: string) => state.addresses[m]!;
const etcd = () => state.ports.server.etcdClient;
const peer = () => state.ports.server.etcdPeer;
const api = () => state.ports.server.apiserver;
/** The agent's HTTP port: what listens on every module, server or not. */
const agentHttp = (m: string) => state.agents!.find((a) => a.module === m)!.httpPort;

async function kwokPlays(module: string): Promise<boolean> {
  const node = await box.kc.makeApiClient(CoreV1Api).readNode({ name: module });
  return node.metadata?.labels?.[KWOK_SELECTOR.key] !== undefined;
}

describe('local box network faults', () => {
  it('before any fault, modules reach each other: etcd client and peer ports, API server, API address', async () => {
    expect(await connects('m1', address('m2'), etcd())).toBe(true);
    expect(await connects('m1', address('m2'), peer())).toBe(true);
    expect(await connects('m4', address('m1'), api())).toBe(true);
    expect(await connects('m4', '127.0.0.1', state.ports.apiserver)).toBe(true);
  });

  it('isolate of a server module cuts its etcd peer and client traffic, its API server and its way to the API, both ways; heal restores them', async () => {
    await isolateModule(box.dir, 'm1');
    expect(await listCuts(box.dir)).toEqual([{ kind: 'isolate', module: 'm1' }]);
    // Out of m1: to its peers' etcd (client and peer ports) and to the API address.
    expect(await connects('m1', address('m2'), etcd())).toBe(false);
    expect(await connects('m1', address('m3'), peer())).toBe(false);
    expect(await connects('m1', '127.0.0.1', state.ports.apiserver)).toBe(false);
    // Into m1: a peer's etcd, another module, the host (the API proxy's way to its API server).
    expect(await connects('m2', address('m1'), peer())).toBe(false);
    expect(await connects('m4', address('m1'), api())).toBe(false);
    expect(await connects(undefined, address('m1'), api())).toBe(false);
    // The rest of the box is untouched, and m1 still talks to itself.
    expect(await connects('m2', address('m3'), peer())).toBe(true);
    expect(await connects('m1', address('m1'), etcd())).toBe(true);
    // Its kubelet cannot reach the API either: KWOK no longer plays its node.
    expect(await kwokPlays('m1')).toBe(false);

    await healModules(box.dir, { module: 'm1' });
    expect(await listCuts(box.dir)).toEqual([]);
    expect(await connects('m1', address('m2'), etcd())).toBe(true);
    expect(await connects('m2', address('m1'), peer())).toBe(true);
    expect(await kwokPlays('m1')).toBe(true);
  });

  it('a partition cuts both ways between the sides; the side without a quorum of members loses the API, the other keeps it', async () => {
    await partitionModules(box.dir, ['m1', 'm4'], { from: ['m2', 'm3'] });
    expect(await connects('m1', address('m2'), peer())).toBe(false);
    expect(await connects('m3', address('m4'), agentHttp('m4'))).toBe(false);
    expect(await connects('m1', address('m4'), agentHttp('m4'))).toBe(true);
    // m1 and m4 hold one member of three: no API for them; m2 and m3 hold two, and keep it.
    expect((await listCuts(box.dir)).filter((c) => c.kind === 'no-api')).toEqual([
      { kind: 'no-api', module: 'm1' },
      { kind: 'no-api', module: 'm4' },
    ]);
    expect(await connects('m4', '127.0.0.1', state.ports.apiserver)).toBe(false);
    expect(await connects('m2', '127.0.0.1', state.ports.apiserver)).toBe(true);
    expect(await kwokPlays('m4')).toBe(false);
    expect(await kwokPlays('m2')).toBe(true);

    await healModules(box.dir);
    expect(await listCuts(box.dir)).toEqual([]);
    expect(await connects('m4', '127.0.0.1', state.ports.apiserver)).toBe(true);
    await eventually(async () => expect(await kwokPlays('m4')).toBe(true), { timeoutMs: 5000, message: 'm4 played again' });
  });

  it("a one-way partition drops only the first side's packets: its connections fail, the other side's connect", async () => {
    await partitionModules(box.dir, ['m3'], { from: ['m4'], oneWay: true });
    expect(await connects('m3', address('m4'), agentHttp('m4'))).toBe(false);
    // m4's SYN gets through and m3's kernel answers the handshake; m3's data would not.
    expect(await connects('m4', address('m3'), api())).toBe(true);
    // One way is enough for TCP to fail, but m3 and m4 still reach a quorum through m1 and m2.
    expect((await listCuts(box.dir)).filter((c) => c.kind === 'no-api')).toEqual([]);
    await healModules(box.dir);
  });
});
