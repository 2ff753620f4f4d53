import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/agent/api/client.js';
import { readApiTarget } from '../../src/agent/api/kubeconfig.js';
import { apiTargetFromJson, apiTargetToJson, type ApiTargetJson } from '../../src/agent/api/target-json.js';
import { backoffMs } from '../../src/base/backoff.js';
import { LeasePublisher, leaseWithView, writeAgentLease } from '../../src/agent/heartbeat/lease-publisher.js';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { microTime } from '../../src/kube/time.js';

const dir = mkdtempSync(join(tmpdir(), 'edgebox-agent-api-'));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA, a serving certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makePki(): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test-ca');
  file('san.cnf', 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, cn] of [
    ['server', '127.0.0.1'],
    ['client', 'edgebox-agent'],
  ] as const) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      ...(name === 'server' ? ['-extfile', 'san.cnf'] : []),
    );
  }
}
const read = (name: string) => readFileSync(join(dir, name));
const b64 = (name: string) => read(name).toString('base64');

function kubeconfig(name: string, cluster: string, user: string): string {
  return file(
    name,
    `apiVersion: v1
kind: Config
current-context: c
contexts: [{ name: c, context: { cluster: k, user: u } }]
clusters: [{ name: k, cluster: ${cluster} }]
users: [{ name: u, user: ${user} }]
`,
  );
}

/**
 * A fake API server that keeps Leases and Namespaces in memory with resourceVersions, accepts
 * the token `good-token` or the client certificate, and can be told to answer 409 once.
 */
class FakeApi {
  server!: Server;
  port = 0;
  objects = new Map<string, Record<string, any>>();
  requests: string[] = [];
  conflictNext = false;
  down = false;
  /** Answers 503, as a K3s server whose etcd member is a learner or has no quorum does. */
  unready = false;
  /** Remote ports of the connections requests came on. */
  sockets: number[] = [];
  private rv = 1;

  async start(): Promise<void> {
    this.server = createServer(
      { key: read('server.key'), cert: read('server.crt'), ca: read('ca.crt'), requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const reply = (status: number, body: unknown) => {
            res.writeHead(status, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify(body));
          };
          const certOk = (req.socket as TLSSocket).authorized;
          const auth = req.headers.authorization;
          this.requests.push(`${req.method} ${req.url} ${certOk ? 'cert' : (auth ?? 'anonymous')}`);
          this.sockets.push(req.socket.remotePort ?? 0);
          if (this.down) return req.socket.destroy();
          if (this.unready) return reply(503, { kind: 'Status', message: 'apiserver not ready', code: 503 });
          if (!certOk && auth !== 'Bearer good-token') return reply(401, { kind: 'Status', message: 'Unauthorized' });
          this.handle(req.method!, req.url!, chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined, reply);
        });
      },
    );
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  private handle(method: string, url: string, body: Record<string, any> | undefined, reply: (s: number, b: unknown) => void): void {
    const m = url.match(/^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/);
    if (url === '/api/v1/namespaces' && method === 'POST') {
      const key = `ns/${body!.metadata.name}`;
      if (this.objects.has(key)) return reply(409, { message: 'exists' });
      this.objects.set(key, body!);
      return reply(201, body);
    }
    if (!m) return reply(404, { message: 'no such path' });
    const [, ns, name] = m;
    if (!this.objects.has(`ns/${ns}`)) return reply(404, { message: `namespaces "${ns}" not found` });
    const key = `lease/${ns}/${name ?? body?.metadata?.name}`;
    const stored = this.objects.get(key);
    const store = (status: number) => {
      const obj = { ...body, metadata: { ...body!.metadata, resourceVersion: String(++this.rv) } };
      this.objects.set(key, obj);
      reply(status, obj);
    };
    if (method === 'GET') return stored ? reply(200, stored) : reply(404, { message: 'not found' });
    if (method === 'POST') return stored ? reply(409, { message: 'already exists' }) : store(201);
    if (method === 'PUT') {
      if (!stored) return reply(404, { message: 'not found' });
      if (this.conflictNext || body!.metadata.resourceVersion !== stored.metadata.resourceVersion) {
        this.conflictNext = false;
        return reply(409, { message: 'the object has been modified' });
      }
      return store(200);
    }
    reply(405, {});
  }

  lease(module: string) {
    return this.objects.get(`lease/edgebox-system/agent-${module}`);
  }
}

let api: FakeApi;
let tokenConfig: string;
let certConfig: string;

beforeAll(async () => {
  makePki();
  api = new FakeApi();
  await api.start();
  const cluster = `{ server: "https://127.0.0.1:${api.port}/", certificate-authority-data: ${b64('ca.crt')} }`;
  tokenConfig = kubeconfig('token.yaml', cluster, '{ token: good-token }');
  certConfig = kubeconfig('cert.yaml', cluster, `{ client-certificate: client.crt, client-key-data: ${b64('client.key')} }`);
});
afterAll(() => new Promise<void>((r) => api.server.close(() => r())));
beforeEach(() => {
  api.objects.clear();
  api.requests = [];
  api.sockets = [];
  api.down = false;
  api.unready = false;
});

describe('readApiTarget', () => {
  it('reads server, inline CA and token; strips the trailing slash', async () => {
    const t = await readApiTarget(tokenConfig);
    expect(t).toMatchObject({ server: `https://127.0.0.1:${api.port}`, token: 'good-token', insecureSkipTlsVerify: false });
    expect(t.ca?.toString()).toContain('BEGIN CERTIFICATE');
  });

  it('reads a client certificate from a file relative to the kubeconfig and a key inline', async () => {
    const t = await readApiTarget(certConfig);
    expect(t.cert?.toString()).toContain('BEGIN CERTIFICATE');
    expect(t.key?.toString()).toContain('PRIVATE KEY');
  });

  it.each([
    ['no current context', 'apiVersion: v1\nkind: Config\n', /has no current context/],
    ['an exec plugin', undefined, /exec or auth-provider/],
    ['a certificate without its key', undefined, /without its key/],
    ['no credentials', undefined, /has no credentials/],
  ])('refuses a kubeconfig with %s (bad input)', async (what, text, message) => {
    const path =
      text !== undefined
        ? file('bad.yaml', text)
        : what === 'an exec plugin'
          ? kubeconfig('bad.yaml', '{ server: "https://x" }', '{ exec: { command: aws } }')
          : what === 'no credentials'
            ? kubeconfig('bad.yaml', '{ server: "https://x" }', '{}')
            : kubeconfig('bad.yaml', '{ server: "https://x" }', '{ client-certificate-data: eA== }');
    const e = await readApiTarget(path).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EdgeboxError);
    expect((e as EdgeboxError).kind).toBe('input');
    expect((e as Error).message).toMatch(message);
  });
});

describe('apiTargetToJson / apiTargetFromJson', () => {
  it.each([
    ['a token', () => tokenConfig],
    ['a client certificate', () => certConfig],
  ])('carry a target read from a kubeconfig with %s through JSON unchanged', async (_what, config) => {
    const target = { ...(await readApiTarget(config())), fallbackServers: ['https://127.0.1.2:6443'], tlsServerName: 'kubernetes' };
    const back = apiTargetFromJson(JSON.parse(JSON.stringify(apiTargetToJson(target))) as ApiTargetJson);
    expect(back).toEqual(target);
  });
});

describe('ApiClient', () => {
  it.each([
    ['a bearer token', () => tokenConfig, 'Bearer good-token'],
    ['a client certificate', () => certConfig, 'cert'],
  ])('authenticates with %s and checks the server against the CA', async (_what, config, seen) => {
    const client = new ApiClient(await readApiTarget(config()));
    const res = await client.request('POST', '/api/v1/namespaces', { metadata: { name: 'x' } });
    client.close();
    expect(res.status).toBe(201);
    expect(api.requests).toEqual([`POST /api/v1/namespaces ${seen}`]);
  });

  it('a wrong token gets the 401 back as a status, not an exception', async () => {
    const client = new ApiClient({ ...(await readApiTarget(tokenConfig)), token: 'bad' });
    expect((await client.request('GET', '/api/v1/namespaces')).status).toBe(401);
    client.close();
  });

  it('refuses a server whose certificate the CA did not sign, unless insecure-skip-tls-verify', async () => {
    const target = { ...(await readApiTarget(tokenConfig)), ca: read('client.crt') };
    const strict = new ApiClient(target);
    await expect(strict.request('GET', '/x')).rejects.toMatchObject({ diagnostics: [{ code: 'agent.api-unreachable' }] });
    strict.close();
    const lax = new ApiClient({ ...target, insecureSkipTlsVerify: true });
    expect((await lax.request('GET', '/x')).status).toBe(404);
    lax.close();
  });

  it('reports a server that does not answer as agent.api-unreachable', async () => {
    const client = new ApiClient({ ...(await readApiTarget(tokenConfig)), server: 'https://127.0.0.1:1' });
    await expect(client.request('GET', '/x')).rejects.toMatchObject({ diagnostics: [{ code: 'agent.api-unreachable' }] });
    client.close();
  });

  it('after a request gets no answer, sends the next ones to the next API server, and comes round again', async () => {
    const good = `https://127.0.0.1:${api.port}`;
    const dead = 'https://127.0.0.1:1';
    const client = new ApiClient({ ...(await readApiTarget(tokenConfig)), server: dead, fallbackServers: [good, `${good}/`] });
    await expect(client.request('GET', '/api/v1/namespaces')).rejects.toMatchObject({ diagnostics: [{ message: expect.stringContaining(dead) }] });
    expect(client.server).toBe(good);
    expect((await client.request('POST', '/api/v1/namespaces', { metadata: { name: 'y' } })).status).toBe(201);
    expect(client.server).toBe(good);
    // The good one dies too: the client goes back to the first (the duplicate with a slash is one server).
    api.down = true;
    await expect(client.request('GET', '/api/v1/namespaces')).rejects.toMatchObject({ diagnostics: [{ code: 'agent.api-unreachable' }] });
    expect(client.server).toBe(dead);
    client.close();
  });
});

describe('agent API client, 503', () => {
  it('after a 503 opens a new connection (a proxy or the API address may send it elsewhere) and moves to the next server', async () => {
    const good = `https://127.0.0.1:${api.port}`;
    const client = new ApiClient({
      ...(await readApiTarget(tokenConfig)),
      server: good,
      fallbackServers: [`https://localhost:${api.port}`],
      tlsServerName: '127.0.0.1',
    });
    expect((await client.request('POST', '/api/v1/namespaces', { metadata: { name: 'a' } })).status).toBe(201);
    expect((await client.request('GET', '/api/v1/namespaces/none')).status).toBe(404);
    expect(new Set(api.sockets).size, 'kept alive while the server answers').toBe(1);
    api.unready = true;
    expect((await client.request('GET', '/api/v1/namespaces')).status).toBe(503);
    expect(client.server).toBe(`https://localhost:${api.port}`);
    api.unready = false;
    expect((await client.request('GET', '/api/v1/namespaces/none')).status).toBe(404);
    expect(new Set(api.sockets).size, 'the connection that got the 503 is not used again').toBe(2);
    client.close();
  });
});

describe('agent Lease', () => {
  const view = { m2: { reachable: true, lastSeen: '2030-01-01T00:00:00.000Z', suspicion: 0.5 } };
  const opts = { box: 'b', module: 'm1', view: () => view, wallNow: () => Date.parse('2030-01-01T00:00:01.234Z') };

  it("has the design record's shape: holder, 3 s, MicroTime renewTime, the view annotation, box and module labels", () => {
    expect(microTime(Date.parse('2030-01-01T00:00:01.234Z'))).toBe('2030-01-01T00:00:01.234000Z');
    expect(leaseWithView(undefined, { ...opts, view, wallNow: opts.wallNow() })).toEqual({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: 'agent-m1',
        namespace: 'edgebox-system',
        labels: { 'edgebox.dev/box': 'b', 'edgebox.dev/module': 'm1' },
        annotations: { 'edgebox.dev/peer-view': JSON.stringify(view) },
      },
      spec: { holderIdentity: 'm1', leaseDurationSeconds: 3, acquireTime: '2030-01-01T00:00:01.234000Z', renewTime: '2030-01-01T00:00:01.234000Z' },
    });
  });

  it('creates the namespace and the Lease on a fresh cluster, then renews with one PUT', async () => {
    const client = new ApiClient(await readApiTarget(tokenConfig));
    const first = await writeAgentLease(client, undefined, opts);
    expect(api.objects.has('ns/edgebox-system')).toBe(true);
    expect(api.lease('m1')?.spec.holderIdentity).toBe('m1');
    api.requests = [];
    await writeAgentLease(client, first, opts);
    expect(api.requests.map((r) => r.split(' ')[0])).toEqual(['PUT']);
    client.close();
  });

  it('on 409 Conflict re-reads the Lease and writes again', async () => {
    const client = new ApiClient(await readApiTarget(tokenConfig));
    const first = await writeAgentLease(client, undefined, opts);
    api.conflictNext = true;
    api.requests = [];
    const second = await writeAgentLease(client, first, opts);
    expect(api.requests.map((r) => r.split(' ')[0])).toEqual(['PUT', 'GET', 'PUT']);
    expect(second.metadata!.resourceVersion).not.toBe(first.metadata!.resourceVersion);
    // A stale cached copy (another writer changed it) is also a conflict, resolved the same way.
    await expect(writeAgentLease(client, first, opts)).resolves.toMatchObject({ spec: { holderIdentity: 'm1' } });
    client.close();
  });

  it('the publisher keeps retrying with backoff while the API is down, and publishes once it is back', async () => {
    const client = new ApiClient(await readApiTarget(tokenConfig));
    const results: boolean[] = [];
    api.down = true;
    const p = new LeasePublisher({
      client,
      ...opts,
      wallNow: Date.now,
      renewEveryMs: 50,
      retryInitialMs: 20,
      retryMaxMs: 40,
      onWrite: (ok) => results.push(ok),
    });
    p.start();
    await new Promise((r) => setTimeout(r, 200));
    expect(results.length).toBeGreaterThanOrEqual(2);
    expect(results.every((ok) => !ok)).toBe(true);
    expect(p.apiReachable).toBe(false);
    api.down = false;
    await new Promise((r) => setTimeout(r, 300));
    p.stop();
    client.close();
    expect(results.at(-1)).toBe(true);
    expect(p.apiReachable).toBe(true);
    expect(api.lease('m1')?.metadata.annotations['edgebox.dev/peer-view']).toBe(JSON.stringify(view));
  });

  it.each([
    [1, 250],
    [2, 500],
    [3, 1000],
    [5, 4000],
    [6, 5000],
    [60, 5000],
  ])('retry %i waits %i ms (capped)', (n, ms) => {
    expect(backoffMs(n, { initialMs: 250, maxMs: 5000 })).toBe(ms);
  });

  it('with jitter a retry waits within the upper half of its delay, both ends reached', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 80 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
        const delay = backoffMs(n, { initialMs: 250, maxMs: 2000 });
        const jittered = backoffMs(n, { initialMs: 250, maxMs: 2000 }, r);
        expect(jittered).toBeGreaterThanOrEqual(Math.round(delay / 2));
        expect(jittered).toBeLessThanOrEqual(delay);
      }),
    );
    expect(backoffMs(6, { initialMs: 250, maxMs: 2000 }, 0)).toBe(1000);
    expect(backoffMs(6, { initialMs: 250, maxMs: 2000 }, 0.9999)).toBe(2000);
  });
});
