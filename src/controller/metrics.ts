import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FAILOVER_BUCKETS, METRICS } from '../contract/metrics.js';

/** The controller's Prometheus metrics, in a registry of their own (no process-global state). */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly detections = new Counter({ name: METRICS.detections, help: 'Modules a quorum of agents declared failed.', registers: [this.registry] });
  readonly fencings = new Counter({
    name: METRICS.fencings,
    help: 'Modules fenced, by method (power or taint).',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });
  readonly failoverSeconds = new Histogram({
    name: METRICS.failoverSeconds,
    help: 'Seconds from when the witnesses last heard a failed module to each stage of its failover.',
    labelNames: ['stage'] as const,
    buckets: FAILOVER_BUCKETS,
    registers: [this.registry],
  });
  readonly leader = new Gauge({ name: METRICS.leader, help: '1 while this controller is the leader.', registers: [this.registry] });
  readonly stalledPasses = new Counter({
    name: 'edgebox_controller_stalled_passes_total',
    help: 'Reconcile passes given up because they ran longer than the stall bound, and started again.',
    registers: [this.registry],
  });
}

/** GET /metrics (text format) and /healthz on host:port; port 0 takes a free one. */
export async function serveMetrics(metrics: ControllerMetrics, o: { host: string; port: number }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (e: Error) => {
          res.writeHead(500);
          res.end(e.message);
        },
      );
      return;
    }
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(o.port, o.host, () => listening());
  });
  return server;
}
