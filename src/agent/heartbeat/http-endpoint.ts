import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { failure } from '../../diagnostics/diagnostic.js';
import type { SelfFenceReport } from '../self-fence/self-fence-loop.js';
import type { QuorumStatus } from '../quorum/recovery-loop.js';

export interface AgentHealth {
  module: string;
  box: string;
  /** Seconds since the agent started. */
  uptime: number;
  /** The last Lease write reached the API server (false before the first, or without --kubeconfig). */
  apiReachable: boolean;
  /** RFC 3339 of the last successful Lease write, or null. */
  lastLeaseWrite: string | null;
  /** Since when and which singletons the module stopped because it fenced itself; null when it runs normally. */
  selfFenced: SelfFenceReport | null;
  /** The agent's part in a quorum-loss recovery (src/agent/quorum); null without a role driver. */
  quorumRecovery?: QuorumStatus | null;
}

export interface EndpointOptions {
  address: string;
  /** 0: an ephemeral port, reported by `port`. */
  port: number;
  health: () => AgentHealth;
  /** The view, as JSON text (the same as the Lease annotation). */
  peers: () => unknown;
  metrics: () => string;
  /** Other routes (the grant API, src/agent/grant/service.ts): true when it answered the request. */
  handle?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export interface Endpoint {
  port: number;
  close(): Promise<void>;
}

/** GET /healthz, /peers and /metrics, read-only; and whatever `handle` answers (the grant API). */
export async function startEndpoint(opts: EndpointOptions): Promise<Endpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    const json = (body: unknown) => send(200, 'application/json', `${JSON.stringify(body)}\n`);
    if (opts.handle?.(req, res)) return;
    if (req.method !== 'GET') send(405, 'text/plain', 'only GET\n');
    else if (path === '/healthz') json(opts.health());
    else if (path === '/peers') json(opts.peers());
    else if (path === '/metrics') send(200, 'text/plain; version=0.0.4', opts.metrics());
    else send(404, 'text/plain', 'GET /healthz, /peers or /metrics\n');
  });
  return listen(server, opts.address, opts.port, { code: 'agent.http-bind-failed', flag: '--http-port' });
}

/** Binds a server of the agent; a failure names the flag that moves it. */
export async function listen(server: Server, address: string, port: number, failed: { code: string; flag: string }): Promise<Endpoint> {
  // Probes and scrapes are one request each; an idle kept-alive socket would only hold memory.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((listening, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(failure(failed.code, `cannot serve HTTP on ${address}:${port}: ${e.code ?? e.message}`, `pass another ${failed.flag} (0 picks a free one)`)),
    );
    server.listen(port, address, () => listening());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    close: () =>
      new Promise<void>((closed) => {
        server.closeAllConnections();
        server.close(() => closed());
      }),
  };
}
