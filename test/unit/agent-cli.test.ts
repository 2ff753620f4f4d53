import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveAgentConfig } from '../../src/agent/heartbeat/config.js';
import { loadSpec } from '../../src/spec/load.js';
import { edgebox, root } from './run-cli.js';

const SPEC = 'test/fixtures/agents-3.yaml';
const dir = mkdtempSync(join(tmpdir(), 'edgebox-agent-cli-'));
// 127.0.3.N: apart from the 127.0.1.N the integration tests' local boxes use.
const MAP = JSON.stringify({ m1: '127.0.3.1', m2: '127.0.3.2', m3: '127.0.3.3' });
const UDP_PORT = String(20_000 + Math.floor(Math.random() * 20_000));

interface Agent {
  child: ChildProcess;
  http: string;
  lines: () => Record<string, unknown>[];
  exited: Promise<number | null>;
}
const running: Agent[] = [];
afterEach(() => {
  for (const a of running.splice(0)) a.child.kill('SIGKILL');
});

/** Starts `edgebox agent run` for a module and resolves once it logged its HTTP address. */
function startAgent(module: string, secretFile: string): Promise<Agent> {
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
      '--port',
      UDP_PORT,
      '--http-port',
      '0',
      '--metrics-port',
      '0',
      '--address-map',
      MAP,
      '--state-dir',
      join(dir, 'state', module),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const lines = () =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const started = lines().find((l) => l.msg === 'agent started');
      if (started) {
        const agent = { child, http: `http://${String(started.http)}`, lines, exited };
        running.push(agent);
        resolve(agent);
      }
    });
    child.stderr!.on('data', (c: Buffer) => reject(new Error(c.toString())));
  });
}

const getJson = async (url: string) => (await fetch(url)).json() as Promise<Record<string, any>>;

describe('edgebox agent secret', () => {
  it('creates a 0600 file with 64 hex characters once, and leaves it alone after', () => {
    const path = join(dir, 'secret-a');
    const first = edgebox('agent', 'secret', path, '-o', 'json');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ path, created: true });
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = edgebox('agent', 'secret', path);
    expect(again.stdout).toContain('exists; left as it is');
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('refuses to run with a short secret (bad input, exit 2)', () => {
    const path = join(dir, 'short');
    writeFileSync(path, 'abc\n');
    const r = edgebox('agent', 'run', '--spec', SPEC, '--module', 'm1', '--secret-file', path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('agent.weak-secret');
  });

  it('refuses --runtime local without --runtime-file (bad input, exit 2)', () => {
    const r = edgebox('agent', 'run', '--spec', SPEC, '--module', 'm1', '--secret-file', join(dir, 'short'), '--runtime', 'local');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('agent.runtime-file-missing');
  });
});

describe('edgebox agent run: bad input exits 2 with a hint', () => {
  const secret = join(dir, 'secret-b');
  edgebox('agent', 'secret', secret);
  it.each([
    ['an unknown module', ['--module', 'm9'], 'agent.unknown-module'],
    ['an address map naming an unknown module', ['--module', 'm1', '--address-map', '{"mx":"127.0.3.1"}'], 'agent.bad-address-map'],
    ['an address map with a non-address', ['--module', 'm1', '--address-map', '{"m2":"nope"}'], 'agent.bad-address-map'],
    ['a missing secret file', ['--module', 'm1', '--secret-file', join(dir, 'none')], 'agent.no-secret'],
    ['a port out of range', ['--module', 'm1', '--port', '70000'], 'agent.bad-port'],
    // run-only flags, in both forms, must not reach the `agent config` child that validates
    ['an unknown module beside --kubeconfig', ['--kubeconfig', '/none', '--module', 'm9'], 'agent.unknown-module'],
    ['an unknown module beside --kubeconfig=', ['--kubeconfig=/none', '--module', 'm9'], 'agent.unknown-module'],
    // read by the `agent config` child too, so that the daemon never loads the YAML library
    ['a kubeconfig that cannot be read', ['--module', 'm1', '--kubeconfig', join(dir, 'no-kubeconfig')], 'agent.bad-kubeconfig'],
  ])('%s', (_what, args, code) => {
    const r = edgebox('agent', 'run', '--spec', SPEC, '--secret-file', secret, ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(code);
    expect(r.stderr).toContain('hint:');
  });
});

describe('edgebox agent config', () => {
  it('prints the configuration `agent run` resolves, as JSON', async () => {
    const { box } = await loadSpec(join(root, SPEC));
    const r = edgebox('agent', 'config', '--spec', SPEC, '--module', 'm2', '--address-map', MAP, '-o', 'json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(resolveAgentConfig(box, { module: 'm2', addressMap: JSON.parse(MAP) }));
  });
});

describe('resolveAgentConfig', () => {
  it('takes peers, port and timings from the spec and addresses from the map; serves HTTP on its own loopback address', async () => {
    const { box } = await loadSpec(join(root, SPEC));
    expect(resolveAgentConfig(box, { module: 'm2', addressMap: JSON.parse(MAP) })).toEqual({
      box: 'agents-3',
      module: 'm2',
      address: '127.0.3.2',
      port: 7946,
      intervalMs: 200,
      missedHeartbeats: 5,
      peers: [
        { name: 'm1', address: '127.0.3.1' },
        { name: 'm3', address: '127.0.3.3' },
      ],
      http: { address: '127.0.3.2', port: 7947 },
      metrics: { address: '127.0.3.2', port: 7949 },
      selfFenceMs: 3000,
      peripherals: [],
      quorum: { power: {}, powerOffGraceMs: 60_000 },
    });
  });

  it('binds HTTP to 127.0.0.1 on a real network address, never to the box network', async () => {
    const { box } = await loadSpec(join(root, SPEC));
    const cfg = resolveAgentConfig(box, { module: 'm1', port: 9000, httpPort: 0 });
    expect(cfg).toMatchObject({ address: '10.42.0.11', port: 9000, http: { address: '127.0.0.1', port: 0 } });
  });

  it('serves the scrape endpoint on the module address, where Prometheus in the cluster reaches it', async () => {
    const { box } = await loadSpec(join(root, SPEC));
    expect(resolveAgentConfig(box, { module: 'm1', metricsPort: 9100 }).metrics).toEqual({ address: '10.42.0.11', port: 9100 });
  });
});

describe('edgebox agent run without an API server', () => {
  it('agents with the same secret see each other; one that stops turns unreachable; SIGTERM exits 0', async () => {
    const secret = join(dir, 'secret-c');
    edgebox('agent', 'secret', secret);
    const [a, b] = await Promise.all([startAgent('m1', secret), startAgent('m2', secret)]);
    await new Promise((r) => setTimeout(r, 600));
    const health = await getJson(`${a.http}/healthz`);
    expect(health).toMatchObject({ module: 'm1', box: 'agents-3', apiReachable: false, lastLeaseWrite: null });
    const peers = await getJson(`${a.http}/peers`);
    expect(peers.m2).toMatchObject({ reachable: true });
    expect(Date.now() - Date.parse(peers.m2.lastSeen)).toBeLessThan(1000);
    expect(peers.m3).toMatchObject({ reachable: true, lastSeen: null }); // never heard, still inside its first window

    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    expect(b.lines().map((l) => l.msg)).toContain('agent stopped');
    const stoppedAt = Date.now();
    for (;;) {
      const p = await getJson(`${a.http}/peers`);
      if (!p.m2.reachable) break;
      expect(Date.now() - stoppedAt).toBeLessThan(3000);
      await new Promise((r) => setTimeout(r, 50));
    }
    const metrics = await (await fetch(`${a.http}/metrics`)).text();
    expect(metrics).toContain('edgebox_agent_peer_reachable{peer="m2"} 0');
    expect(metrics).toMatch(/edgebox_agent_heartbeats_accepted_total [1-9]/);
    expect(
      a
        .lines()
        .filter((l) => l.msg === 'peer unreachable')
        .map((l) => l.peer),
    ).toEqual(expect.arrayContaining(['m2', 'm3']));
    expect((await fetch(`${a.http}/nope`)).status).toBe(404);
  });

  it('an agent with another secret is not heard (bad-mac), and does not hear the box', async () => {
    const secret = join(dir, 'secret-d');
    const other = join(dir, 'secret-e');
    edgebox('agent', 'secret', secret);
    edgebox('agent', 'secret', other);
    const [a, b] = await Promise.all([startAgent('m1', secret), startAgent('m2', other)]);
    // Polled, not slept: on a loaded machine the agents' start-up grace can outlast a fixed wait.
    await vi.waitFor(
      async () => {
        expect(await (await fetch(`${a.http}/metrics`)).text()).toMatch(/edgebox_agent_heartbeats_rejected_total\{reason="bad-mac"\} [1-9]/);
        expect((await getJson(`${a.http}/peers`)).m2.reachable).toBe(false);
        expect((await getJson(`${b.http}/peers`)).m1.reachable).toBe(false);
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(a.lines().find((l) => l.msg === 'heartbeat rejected')).toMatchObject({ reason: 'bad-mac', source: '127.0.3.2' });
  });
});
