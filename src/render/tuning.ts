import type { Criticality } from '../spec/schema.js';

/**
 * Failover timings of the control plane. `KUBERNETES_DEFAULTS` are upstream's;
 * `TUNED` is what `render` writes for a box on a LAN backplane and what `edgebox local up
 * --timings tuned` runs with. Each tuned value carries its reason, which render writes as a
 * comment beside it.
 */
export interface Timings {
  /** kube-controller-manager --node-monitor-period (seconds). */
  nodeMonitorPeriodSeconds: number;
  /** kube-controller-manager --node-monitor-grace-period (seconds). */
  nodeMonitorGracePeriodSeconds: number;
  /** kubelet nodeLeaseDurationSeconds; the lease is renewed every quarter of it. */
  nodeLeaseDurationSeconds: number;
  /** kubelet --node-status-update-frequency (seconds). */
  nodeStatusUpdateFrequencySeconds: number;
  /** kube-apiserver --default-not-ready-toleration-seconds / --default-unreachable-toleration-seconds. */
  defaultTolerationSeconds: number;
  /** not-ready/unreachable tolerationSeconds written on each workload, by criticality. */
  tolerationSeconds: Record<Criticality, number>;
  /** etcd --heartbeat-interval / --election-timeout (milliseconds). */
  etcdHeartbeatMs: number;
  etcdElectionTimeoutMs: number;
}

export const KUBERNETES_DEFAULTS: Timings = {
  nodeMonitorPeriodSeconds: 5,
  nodeMonitorGracePeriodSeconds: 50,
  nodeLeaseDurationSeconds: 40,
  nodeStatusUpdateFrequencySeconds: 10,
  defaultTolerationSeconds: 300,
  tolerationSeconds: { critical: 300, standard: 300, 'best-effort': 300 },
  etcdHeartbeatMs: 100,
  etcdElectionTimeoutMs: 1000,
};

export const TUNED: Timings = {
  nodeMonitorPeriodSeconds: 2,
  nodeMonitorGracePeriodSeconds: 20,
  nodeLeaseDurationSeconds: 2,
  nodeStatusUpdateFrequencySeconds: 4,
  defaultTolerationSeconds: 30,
  tolerationSeconds: { critical: 5, standard: 15, 'best-effort': 60 },
  etcdHeartbeatMs: 250,
  etcdElectionTimeoutMs: 2500,
};

/** Why each tuned value is what it is; render writes these as comments. */
export const TUNING_REASONS = {
  nodeMonitorPeriodSeconds: 'check node leases every 2 s instead of 5 s, so detection lags a dead module by at most 2 s',
  nodeMonitorGracePeriodSeconds:
    "20 s of missed lease renewals before Kubernetes' own slow path marks a node NotReady: a busy module that misses a few renewals is not declared dead (a 20 s grace with the default 10 s renewal gave false positives: dell/omnia#3798); edgebox's controller fences in about a second on its own rule",
  nodeLeaseDurationSeconds:
    'a 2 s lease is renewed every 500 ms: edgebox fences a module only after its lease went unrenewed for a renewal period plus 1 s, so a module whose agent alone restarts is never fenced, and a dead one is fenced 1-1.5 s after its last renewal; the 20 s grace period spans forty renewals',
  nodeStatusUpdateFrequencySeconds: 'report node status every 4 s (default 10 s) so conditions follow the lease',
  defaultTolerationSeconds: 'pods without an edgebox criticality leave a dead module after 30 s instead of 300 s',
  tolerationSeconds: 'critical workloads leave an unreachable module 5 s after it is declared NotReady, standard 15 s, best-effort 60 s',
  etcdHeartbeat:
    "etcd heartbeat 250 ms / election 2500 ms: a LAN backplane has sub-millisecond RTT, so this halves K3s's 500/5000 ms leader failover while keeping the 10x ratio etcd recommends for slow SD/eMMC disks",
} as const;
