import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretFile } from '../../src/agent/heartbeat/secret.js';
import { decodeHeartbeat, encodeHeartbeat } from '../../src/agent/heartbeat/wire.js';
import { LOCAL_ADDRESS_ANNOTATION, simulatedNodes } from '../../src/local/simulated-nodes.js';
import { loadSpec } from '../../src/spec/load.js';
import { ROOT } from './apply-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

const SPEC = join(ROOT, 'test/fixtures/agents-3.yaml');
const MODULES = ['m1', 'm2', 'm3'];
const UDP_PORT = 20_000 + Math.floor(Math.random() * 20_000);

type View = Record<string, { reachable: boolean; lastSeen: string | null; suspicion: number }>;

let box: Box;
let scratch: string;
let secretFile: string;
let addresses: Record<string, string>;
const agents = new Map<string, { child: ChildProcess; http: string }>();

/** Starts `node bin/edgebox.js agent run` for a module on its local-box address; resolves once it serves HTTP. */
function startAgent(module: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      'bin/edgebox.js',
      'agent',
      'run',
      '--spec',
      SPEC,
      '--module',
      module,
      '--secret-file',
      secretFile,
      '--kubeconfig',
      box.kubeconfigPath,
      '--port',
      String(UDP_PORT),
      '--http-port',
      '0',
      '--metrics-port',
      '0',
      '--address-map',
      JSON.stringify(addresses),
      '--state-dir',
      join(scratch, 'state', module),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.once('exit', (code) => reject(new Error(`agent ${module} exited ${code}: ${err}`)));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const started = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string; http?: string })
        .find((l) => l.msg === 'agent started');
      if (started && !agents.has(module)) {
        agents.set(module, { child, http: `http://${started.http}` });
        resolve();
      }
    });
  });
}

const leases = () => box.kc.makeApiClient(CoordinationV1Api);
const readLease = (module: string): Promise<V1Lease> => leases().readNamespacedLease({ name: `agent-${module}`, namespace: 'edgebox-system' });
const viewOf = (l: V1Lease): View => JSON.parse(l.metadata?.annotations?.['edgebox.dev/peer-view'] ?? '{}') as View;
const renewMs = (l: V1Lease) => new Date(l.spec!.renewTime as unknown as string | Date).getTime();
const rejectedBadMac = async (module: string) => {
  const text = await (await fetch(`${agents.get(module)!.http}/metrics`)).text();
  return Number(/edgebox_agent_heartbeats_rejected_total\{reason="bad-mac"\} (\d+)/.exec(text)?.[1] ?? NaN);
};

/**
 * Sends heartbeats as m3 from m3's address, signed with `key`, every 100 ms for `ms`. It listens on
 * m3's heartbeat port too, so that each echoes the incarnation m1 and m2 announce, as m3's agent
 * would (read with the box secret: only the signing key is under test).
 */
async function sendAsM3(key: Buffer, ms: number): Promise<void> {
  const boxKey = Buffer.from((await readFile(secretFile, 'utf8')).trim());
  const socket = createSocket('udp4');
  const echo = new Map<string, number>();
  socket.on('message', (msg) => {
    const d = decodeHeartbeat(msg, boxKey);
    if (d.ok) echo.set(d.heartbeat.from, d.heartbeat.inc);
  });
  await new Promise<void>((r) => socket.bind({ address: addresses.m3!, port: UDP_PORT }, r));
  let seq = 0;
  const inc = Date.now();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    seq++;
    for (const peer of ['m1', 'm2']) {
      const datagram = encodeHeartbeat({ box: 'agents-3', from: 'm3', inc, seq, echo: echo.get(peer) ?? null, sentAt: new Date().toISOString() }, key);
      socket.send(datagram, UDP_PORT, addresses[peer]!);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise<void>((r) => socket.close(r));
}

beforeAll(async () => {
  box = await startBox(SPEC);
  scratch = await mkdtemp(join(tmpdir(), 'edgebox-agent-it-'));
  secretFile = join(scratch, 'box-secret');
  await createSecretFile(secretFile);
  // The local box's own module addresses (127.0.1.N), as recorded on its nodes.
  const { box: spec } = await loadSpec(SPEC);
  addresses = Object.fromEntries(simulatedNodes(spec).map((n) => [n.metadata!.name!, n.metadata!.annotations![LOCAL_ADDRESS_ANNOTATION]!]));
  await Promise.all(MODULES.map(startAgent));
});

afterAll(async () => {
  for (const { child } of agents.values()) child.kill('SIGKILL');
  await box?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('edgebox agent run on a local box', () => {
  it('each agent publishes its Lease in edgebox-system, renewed every second, with every peer reachable', async () => {
    const first = await eventually(
      async () => {
        const all = await Promise.all(MODULES.map(readLease));
        for (const [i, l] of all.entries()) {
          const m = MODULES[i]!;
          expect(l.spec).toMatchObject({ holderIdentity: m, leaseDurationSeconds: 3 });
          expect(l.metadata?.labels).toMatchObject({ 'edgebox.dev/box': 'agents-3', 'edgebox.dev/module': m });
          const view = viewOf(l);
          expect(Object.keys(view).sort()).toEqual(MODULES.filter((x) => x !== m));
          for (const peer of Object.values(view)) {
            expect(peer.reachable).toBe(true);
            expect(peer.lastSeen).not.toBeNull();
            expect(peer.suspicion).toBeLessThan(5);
          }
        }
        return all;
      },
      { timeoutMs: 15_000, message: 'three agent Leases with every peer reachable' },
    );
    await eventually(
      async () => {
        for (const l of first) expect(renewMs(await readLease(l.spec!.holderIdentity!))).toBeGreaterThan(renewMs(l));
      },
      { timeoutMs: 3000, message: 'every Lease renewed' },
    );
    const health = await (await fetch(`${agents.get('m1')!.http}/healthz`)).json();
    expect(health).toMatchObject({ module: 'm1', apiReachable: true });
  });

  it('a killed agent is reported unreachable by both others within about 1.5 s', async () => {
    const killedAt = Date.now();
    agents.get('m3')!.child.kill('SIGKILL');
    const reported = await eventually(
      async () => {
        const ls = await Promise.all(['m1', 'm2'].map(readLease));
        for (const l of ls) expect(viewOf(l).m3?.reachable).toBe(false);
        return ls;
      },
      { timeoutMs: 5000, intervalMs: 50, message: 'm1 and m2 to report m3 unreachable' },
    );
    for (const l of reported) {
      const view = viewOf(l).m3!;
      expect(Date.parse(view.lastSeen!)).toBeLessThanOrEqual(killedAt + 50);
      expect(view.suspicion).toBeGreaterThanOrEqual(5);
    }
    // renewTime is when the Lease was written: the first write that shows m3 unreachable (the one
    // the transition triggers at once) came at most 1.5 s after the kill (1 s of missed heartbeats).
    const firstSeen = reported.map((l) => renewMs(l) - killedAt);
    expect(Math.max(...firstSeen)).toBeLessThanOrEqual(1500);
  });

  it('a heartbeat signed with a wrong secret is ignored; the same with the box secret is heard', async () => {
    const before = await Promise.all(['m1', 'm2'].map(rejectedBadMac));
    await sendAsM3(Buffer.from('f'.repeat(64)), 1500);
    for (const m of ['m1', 'm2']) {
      const view = viewOf(await readLease(m));
      expect(view.m3?.reachable).toBe(false);
      const peers = (await (await fetch(`${agents.get(m)!.http}/peers`)).json()) as View;
      expect(peers.m3?.reachable).toBe(false);
    }
    const after = await Promise.all(['m1', 'm2'].map(rejectedBadMac));
    for (const [i, n] of after.entries()) expect(n).toBeGreaterThan(before[i]!);

    // The control: the same datagrams signed with the box secret make m3 reachable, so the test
    // above failed for the secret and nothing else.
    await sendAsM3(Buffer.from((await readFile(secretFile, 'utf8')).trim()), 600);
    await eventually(
      async () => {
        for (const m of ['m1', 'm2']) expect(viewOf(await readLease(m)).m3?.reachable).toBe(true);
      },
      { timeoutMs: 3000, message: 'm3 reachable after correctly signed heartbeats' },
    );
  });
});
