import { request } from 'node:http';
import { parseControlPlaneReport } from '../contract/control-plane.js';
import type { AgentProbe } from './box-status.js';

/**
 * The agents' own view, for when the API is unavailable: GET /healthz on each agent's local
 * endpoint (src/agent/heartbeat/http-endpoint.ts). The agents keep running through a quorum
 * loss, so they are what is left to ask.
 */

const PROBE_TIMEOUT_MS = 1500;

function getJson(host: string, port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'GET', timeout: PROBE_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Where one agent's HTTP endpoint listens (a local box's state file says it). */
export interface AgentEndpoint {
  module: string;
  address: string;
  httpPort: number;
}

export async function probeAgents(agents: readonly AgentEndpoint[]): Promise<AgentProbe[]> {
  return Promise.all(
    agents.map(async (a): Promise<AgentProbe> => {
      try {
        const h = (await getJson(a.address, a.httpPort, '/healthz')) as Record<string, unknown>;
        const cp = h.controlPlane === null || h.controlPlane === undefined ? null : (parseControlPlaneReport(JSON.stringify(h.controlPlane)) ?? null);
        // The agent's part in a quorum-loss recovery (src/agent/quorum), under either name.
        const raw = h.quorumRecovery ?? h.quorum;
        const q = typeof raw === 'object' && raw !== null ? (raw as AgentProbe['quorum']) : null;
        return { module: a.module, reachable: true, controlPlane: cp, quorum: q };
      } catch (e) {
        return { module: a.module, reachable: false, error: (e as Error).message };
      }
    }),
  );
}
