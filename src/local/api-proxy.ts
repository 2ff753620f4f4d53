import { readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * The box's API address: a TCP proxy on 127.0.0.1 that forwards each connection to an API
 * server of the box, as K3s's agent load balancer does on a real box. It prefers the servers
 * whose /readyz answered 200 at the last check (every second), the one that served last first,
 * and tries the next when a connection is refused or times out; so clients keep working while
 * any API server serves, whichever modules are servers at the moment. TLS passes through: every
 * API server has the box's serving certificate.
 */

export interface ApiProxyOptions {
  host: string;
  port: number;
  /**
   * Also listen on this Unix socket: the host's own way to the API, which the box's network faults
   * (cgroup-matched firewall rules on IP traffic) never cut. The simulated container runtime uses it.
   */
  socketPath?: string;
  /** `address:port` of every place an API server of the box may run (each module's address). */
  backends: string[];
  /** The box CA and token, for the /readyz checks. */
  caFile: string;
  tokenFile: string;
  /** Default 1000 ms. */
  connectTimeoutMs?: number;
  /** Default 1000 ms. */
  checkEveryMs?: number;
}

/**
 * The order in which a connection tries the backends: ready ones first, starting with the one
 * that served last, then the rest in their order (a check may lag a server that just came up). Pure.
 */
export function backendOrder(backends: readonly string[], ready: ReadonlySet<string>, last: string | undefined): string[] {
  const rank = (b: string) => (ready.has(b) ? 0 : 2) - (b === last ? 1 : 0);
  return backends
    .map((b, i) => ({ b, i }))
    .sort((x, y) => rank(x.b) - rank(y.b) || x.i - y.i)
    .map((x) => x.b);
}

function dial(backend: string, timeoutMs: number): Promise<Socket | undefined> {
  const [host, port] = [backend.slice(0, backend.lastIndexOf(':')), Number(backend.slice(backend.lastIndexOf(':') + 1))];
  return new Promise((done) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      done(undefined);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      done(s);
    });
    s.once('error', () => {
      clearTimeout(timer);
      done(undefined);
    });
  });
}

export async function startApiProxy(o: ApiProxyOptions): Promise<{ close(): Promise<void> }> {
  const timeoutMs = o.connectTimeoutMs ?? 1000;
  const ca = await readFile(o.caFile);
  const token = (await readFile(o.tokenFile, 'utf8')).split(',')[0] ?? '';
  const agent = new Agent({ keepAlive: true, ca });
  let ready = new Set<string>();
  let last: string | undefined;

  const readyz = (backend: string) =>
    new Promise<boolean>((done) => {
      const [host, port] = [backend.slice(0, backend.lastIndexOf(':')), backend.slice(backend.lastIndexOf(':') + 1)];
      const req = request({ host, port, path: '/readyz', agent, timeout: 900, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        done(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => done(false));
      req.end();
    });
  const check = async () => {
    const results = await Promise.all(o.backends.map(async (b) => ((await readyz(b)) ? b : undefined)));
    ready = new Set(results.filter((b): b is string => b !== undefined));
  };
  await check();
  const checker = setInterval(() => void check(), o.checkEveryMs ?? 1000);

  const open = new Set<Socket>();
  const track = (s: Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  };
  const forward = (client: Socket) => {
    track(client);
    client.on('error', () => client.destroy());
    void (async () => {
      for (const backend of backendOrder(o.backends, ready, last)) {
        if (client.destroyed) return;
        const upstream = await dial(backend, timeoutMs);
        if (!upstream) continue;
        last = backend;
        track(upstream);
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
        return;
      }
      // No API server answers: the client sees the connection closed, as with a server down.
      client.destroy();
    })();
  };
  const listen = (server: Server, at: { port: number; host: string } | { path: string }) =>
    new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(at, () => done());
    });
  const server = createServer({ pauseOnConnect: true }, forward);
  await listen(server, { port: o.port, host: o.host });
  const servers = [server];
  if (o.socketPath) {
    await rm(o.socketPath, { force: true });
    const local = createServer({ pauseOnConnect: true }, forward);
    await listen(local, { path: o.socketPath });
    servers.push(local);
  }
  return {
    close: () =>
      new Promise<void>((done) => {
        clearInterval(checker);
        agent.destroy();
        let listening = servers.length;
        for (const s of servers) s.close(() => --listening === 0 && done());
        // Clients reconnect to the next API address they are given; nobody waits for these.
        for (const s of open) s.destroy();
      }),
  };
}
