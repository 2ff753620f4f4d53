/**
 * The Prometheus names the agents and the controller export and that render's alert rules and
 * dashboard query (src/render/monitoring.ts): one spelling for the exporter and its readers.
 * Names follow Prometheus conventions: base units (`_seconds`), counters end in `_total`.
 */

/** TCP port of the controller's /metrics and /healthz. */
export const CONTROLLER_METRICS_PORT = 7948;
/** TCP port of an agent's /metrics on its module address (behind the box's scrape token). */
export const AGENT_METRICS_PORT = 7949;

export const METRICS = {
  detections: 'edgebox_detections_total',
  fencings: 'edgebox_fencings_total',
  failoverSeconds: 'edgebox_failover_seconds',
  leader: 'edgebox_leader',
  peripheralOwned: 'edgebox_peripheral_owned',
  agentSelfFenced: 'edgebox_agent_self_fenced',
  agentApiReachable: 'edgebox_agent_api_reachable',
  agentPeerReachable: 'edgebox_agent_peer_reachable',
} as const;

/** Stages of a failover, each timed from when the witnesses last heard the module. */
export const FAILOVER_STAGES = ['detected', 'fenced', 'released', 'ready'] as const;
export type FailoverStage = (typeof FAILOVER_STAGES)[number];

/** Buckets of edgebox_failover_seconds: the targets are a few seconds; stock Kubernetes takes about 350. */
export const FAILOVER_BUCKETS = [0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300, 600];

/**
 * A failover whose workloads are Ready later than this misses its target (bench:failover's p95
 * target for a StatefulSet; a critical Deployment's is 5 s). One of FAILOVER_BUCKETS, so the
 * alert can count the failovers above it exactly.
 */
export const FAILOVER_TARGET_SECONDS = 10;
