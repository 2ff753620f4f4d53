import { createServer } from 'node:http';
import { authorized } from './metrics-token.js';
import { listen, type Endpoint } from './http-endpoint.js';

export interface MetricsEndpointOptions {
  /** The module's address: Prometheus in the cluster scrapes it there. */
  address: string;
  /** 0: an ephemeral port, reported by `port`. */
  port: number;
  /** The scrape token (metricsToken); a request without it gets 401. */
  token: string;
  metrics: () => string;
}

/**
 * GET /metrics on the module address, for Prometheus: nothing else is served there (the health,
 * peers and grant routes stay on the host-only endpoint), and only with the box's scrape token.
 */
export async function startMetricsEndpoint(opts: MetricsEndpointOptions): Promise<Endpoint> {
  const server = createServer((req, res) => {
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': status === 200 ? 'text/plain; version=0.0.4' : 'text/plain', ...headers });
      res.end(body);
    };
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') send(404, 'GET /metrics\n');
    else if (!authorized(req.headers.authorization, opts.token)) send(401, 'a bearer token is needed\n', { 'WWW-Authenticate': 'Bearer' });
    else send(200, opts.metrics());
  });
  return listen(server, opts.address, opts.port, { code: 'agent.metrics-bind-failed', flag: '--metrics-port' });
}
