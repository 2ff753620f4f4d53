import { REJECT_REASONS, type RejectReason } from './verify.js';
import type { PeerView } from '../../contract/peer-view.js';
import { METRICS } from '../../contract/metrics.js';

/** The agent's counters, exposed on GET /metrics. */
export class AgentMetrics {
  heartbeatsSent = 0;
  sendErrors = 0;
  heartbeatsAccepted = 0;
  readonly rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  transitions = 0;
  leaseWrites = 0;
  leaseWriteFailures = 0;
  selfFences = 0;
  selfFenceFailures = 0;
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * Prometheus text exposition format 0.0.4, written by hand: prom-client would cost several MB of
 * the agent's budget for a dozen series.
 */
export function formatMetrics(m: AgentMetrics, view: PeerView, apiReachable: boolean, selfFenced = false): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${esc(v)}"`)
        .join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${value}`);
    }
  };
  const peers = Object.entries(view);
  metric('edgebox_agent_heartbeats_sent_total', 'counter', 'Heartbeat datagrams sent to peers.', [[{}, m.heartbeatsSent]]);
  metric('edgebox_agent_send_errors_total', 'counter', 'Heartbeat sends the socket reported failed.', [[{}, m.sendErrors]]);
  metric('edgebox_agent_heartbeats_accepted_total', 'counter', 'Heartbeats accepted from peers.', [[{}, m.heartbeatsAccepted]]);
  metric(
    'edgebox_agent_heartbeats_rejected_total',
    'counter',
    'Datagrams dropped, by reason.',
    REJECT_REASONS.map((r) => [{ reason: r }, m.rejected[r]]),
  );
  metric('edgebox_agent_peer_transitions_total', 'counter', 'Peers turning reachable or unreachable.', [[{}, m.transitions]]);
  metric('edgebox_agent_lease_writes_total', 'counter', 'Agent Lease writes, by result.', [
    [{ result: 'ok' }, m.leaseWrites],
    [{ result: 'failed' }, m.leaseWriteFailures],
  ]);
  metric(METRICS.agentApiReachable, 'gauge', '1 when the last Lease write reached the API server.', [[{}, apiReachable ? 1 : 0]]);
  metric(METRICS.agentSelfFenced, 'gauge', '1 while the module has fenced itself (singletons stopped).', [[{}, selfFenced ? 1 : 0]]);
  metric('edgebox_agent_self_fences_total', 'counter', 'Times the module fenced itself.', [[{}, m.selfFences]]);
  metric('edgebox_agent_self_fence_failures_total', 'counter', 'Runtime calls of self-fencing that failed.', [[{}, m.selfFenceFailures]]);
  metric(
    METRICS.agentPeerReachable,
    'gauge',
    '1 when the peer is reachable.',
    peers.map(([p, v]) => [{ peer: p }, v.reachable ? 1 : 0]),
  );
  metric(
    'edgebox_agent_peer_suspicion',
    'gauge',
    'Heartbeat intervals since the peer was last heard.',
    peers.map(([p, v]) => [{ peer: p }, v.suspicion]),
  );
  return `${lines.join('\n')}\n`;
}
