import { isIPv6 } from 'node:net';
import { SYSTEM_NAMESPACE } from '../contract/leases.js';
import { AGENT_METRICS_PORT, CONTROLLER_METRICS_PORT, FAILOVER_STAGES, FAILOVER_TARGET_SECONDS, METRICS } from '../contract/metrics.js';
import { majorityOf } from '../base/majority.js';
import type { BoxSpec } from '../spec/schema.js';
import { CONTROLLER_NAME, controllerPodLabels } from './controller.js';
import { k3sRoles } from './k3s-config.js';
import { boxLabels, type KubeObject } from './kube-object.js';

/**
 * The box's monitoring for the Prometheus Operator (docs/decisions/0012-packaging-and-metrics.md):
 * the controller's metrics Service, the agents' scrape targets (a Service without selector and
 * its Endpoints: the agents are host daemons on the module addresses, not pods), a ServiceMonitor
 * for each, the alert rules and the failover dashboard as a ConfigMap Grafana's sidecar loads.
 * Apart from the manifests, because ServiceMonitor and PrometheusRule exist only where the
 * operator's CRDs are installed. Pure and deterministic.
 */

/** The Secret (in SYSTEM_NAMESPACE, key `token`) holding `edgebox agent metrics-token`. */
export const AGENT_METRICS_SECRET = 'edgebox-agent-metrics';
const AGENTS = 'edgebox-agents';
const CONTROLLER_METRICS = `${CONTROLLER_NAME}-metrics`;
const COMPONENT = 'monitoring';

export function renderMonitoring(box: BoxSpec): KubeObject[] {
  const labels = { ...boxLabels(box), 'app.kubernetes.io/component': COMPONENT };
  const meta = (name: string, extra: Record<string, string> = {}) => ({ name, namespace: SYSTEM_NAMESPACE, labels: { ...labels, ...extra } });
  const port = (p: number) => [{ name: 'metrics', port: p, targetPort: p, protocol: 'TCP' }];
  const modules = box.spec.modules;
  // The module name as the `module` label of every agent series, from the endpoint's hostname.
  const moduleLabel = ['__meta_kubernetes_endpoint_hostname', '__meta_kubernetes_endpointslice_endpoint_hostname'].map((source) => ({
    sourceLabels: [source],
    regex: '(.+)',
    targetLabel: 'module',
    action: 'replace',
  }));
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(CONTROLLER_METRICS, { 'app.kubernetes.io/name': CONTROLLER_METRICS }),
      spec: { selector: controllerPodLabels(box), ports: port(CONTROLLER_METRICS_PORT) },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(AGENTS, { 'app.kubernetes.io/name': AGENTS }),
      // No selector: the Endpoints below are the agents' module addresses.
      spec: { clusterIP: 'None', ports: port(AGENT_METRICS_PORT) },
    },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: meta(AGENTS, { 'app.kubernetes.io/name': AGENTS }),
      subsets: (['IPv4', 'IPv6'] as const)
        .map((family) => modules.filter((m) => isIPv6(m.address) === (family === 'IPv6')))
        .filter((ms) => ms.length > 0)
        .map((ms) => ({
          addresses: ms.map((m) => ({ ip: m.address, hostname: m.name })),
          ports: [{ name: 'metrics', port: AGENT_METRICS_PORT, protocol: 'TCP' }],
        })),
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: meta(CONTROLLER_NAME),
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': CONTROLLER_METRICS } },
        endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }],
      },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: meta(AGENTS),
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': AGENTS } },
        endpoints: [
          {
            port: 'metrics',
            path: '/metrics',
            interval: '15s',
            authorization: { type: 'Bearer', credentials: { name: AGENT_METRICS_SECRET, key: 'token' } },
            relabelings: moduleLabel,
          },
        ],
      },
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: meta('edgebox'),
      spec: { groups: [{ name: 'edgebox', rules: alertRules(box) }] },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      // grafana_dashboard: the label the Grafana chart's dashboard sidecar looks for.
      metadata: meta('edgebox-dashboard', { grafana_dashboard: '1' }),
      data: { 'edgebox-failover.json': `${JSON.stringify(failoverDashboard(box), null, 2)}\n` },
    },
  ];
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: 'critical' | 'warning' | 'info' };
  annotations: { summary: string; description: string };
}

/** The box's alerts; each expression names only series edgebox exports (src/contract/metrics.ts) and `up`. */
export function alertRules(box: BoxSpec): AlertRule[] {
  const name = box.metadata.name;
  const servers = [...k3sRoles(box)].filter(([, role]) => role !== 'agent').map(([m]) => m);
  const quorum = majorityOf(servers.length);
  // Fires once a server is lost and the rest are at the quorum or under it (for one or two servers: any loss).
  const atRisk = Math.min(servers.length - 1, quorum);
  const target = FAILOVER_TARGET_SECONDS;
  // Failovers Ready within the target: the cumulative bucket at the target. All of them: the
  // count (summing every bucket would count a 5 s failover once per bucket above 5 s).
  const readyWithin = `${METRICS.failoverSeconds}_bucket{stage="ready",le="${target}"}`;
  const readyAll = `${METRICS.failoverSeconds}_count{stage="ready"}`;
  return [
    {
      alert: 'EdgeboxQuorumAtRisk',
      // Servers whose agent answers: at the quorum or under it, one more loss stops the API.
      expr: `(sum(up{job="${AGENTS}",module=~"${servers.join('|')}"}) or vector(0)) <= ${atRisk}`,
      for: '1m',
      labels: { severity: servers.length > 1 ? 'critical' : 'warning' },
      annotations: {
        summary: `box ${name}: etcd quorum at risk`,
        description: `At most ${atRisk} of the ${servers.length} servers (${servers.join(', ')}) answer and the etcd quorum is ${quorum}: one more lost server stops the API, if it has not stopped already. See docs/runbooks.`,
      },
    },
    {
      alert: 'EdgeboxModuleFenced',
      expr: `increase(${METRICS.fencings}[10m]) > 0`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `box ${name}: a module was fenced`,
        description: 'The controller fenced a module a quorum of agents declared failed ({{ $labels.method }}); its pods were released elsewhere.',
      },
    },
    {
      alert: 'EdgeboxModuleSelfFenced',
      expr: `max by (module) (${METRICS.agentSelfFenced}) == 1`,
      for: '1m',
      labels: { severity: 'warning' },
      annotations: {
        summary: `box ${name}: module {{ $labels.module }} fenced itself`,
        description: 'The module lost its quorum side and stopped its singletons; it rejoins when it hears a majority again.',
      },
    },
    {
      alert: 'EdgeboxFailoverOverTarget',
      expr: `sum(increase(${readyAll}[30m])) - sum(increase(${readyWithin}[30m])) > 0`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `box ${name}: a failover took longer than ${target} s`,
        description: `Workloads of a failed module were Ready more than ${target} s after the module was last heard (edgebox_failover_seconds{stage="ready"}).`,
      },
    },
    {
      alert: 'EdgeboxPeripheralWithoutOwner',
      expr: `max by (peripheral) (${METRICS.peripheralOwned}) == 0`,
      for: '1m',
      labels: { severity: 'critical' },
      annotations: {
        summary: `box ${name}: peripheral {{ $labels.peripheral }} has no owner`,
        description: 'No module owns the exclusive peripheral: the workloads bound to it cannot run. `edgebox status` shows its Lease and candidates.',
      },
    },
    {
      alert: 'EdgeboxNoController',
      expr: `(sum(${METRICS.leader}) or vector(0)) == 0`,
      for: '2m',
      labels: { severity: 'critical' },
      annotations: {
        summary: `box ${name}: no edgebox controller leads`,
        description: 'Without a leading controller nothing fences a failed module or releases its pods.',
      },
    },
  ];
}

/**
 * Grafana dashboard of the failover timeline: when modules were detected, fenced, released and
 * their workloads Ready (the counts of each stage over time), how long each stage took, and the
 * agents' view of their peers.
 */
export function failoverDashboard(box: BoxSpec): Record<string, unknown> {
  const target = (expr: string, legendFormat: string) => ({ expr, legendFormat, refId: legendFormat.replace(/\W/g, '') || 'A' });
  const panel = (id: number, title: string, type: string, y: number, targets: ReturnType<typeof target>[], unit: string) => ({
    id,
    title,
    type,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: { x: 0, y, w: 24, h: 8 },
    fieldConfig: { defaults: { unit }, overrides: [] },
    targets,
  });
  const stage = (s: string) => `sum(increase(${METRICS.failoverSeconds}_count{stage="${s}"}[$__rate_interval]))`;
  const p95 = (s: string) => `histogram_quantile(0.95, sum by (le) (rate(${METRICS.failoverSeconds}_bucket{stage="${s}"}[$__range])))`;
  return {
    title: `edgebox ${box.metadata.name}: failover timeline`,
    uid: `edgebox-failover-${box.metadata.name}`.slice(0, 40),
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus' }] },
    panels: [
      panel(
        1,
        'Failover stages reached (detect, fence, release, Ready)',
        'timeseries',
        0,
        FAILOVER_STAGES.map((s) => target(stage(s), s)),
        'short',
      ),
      panel(
        2,
        'Seconds from last heard to each stage (p95 over the range)',
        'bargauge',
        8,
        FAILOVER_STAGES.map((s) => target(p95(s), s)),
        's',
      ),
      panel(3, 'Fencings by method', 'timeseries', 16, [target(`sum by (method) (increase(${METRICS.fencings}[$__rate_interval]))`, '{{method}}')], 'short'),
      panel(
        4,
        'Peers each agent hears',
        'timeseries',
        24,
        [
          target(`sum by (module) (${METRICS.agentPeerReachable})`, '{{module}}'),
          target(`sum by (module) (${METRICS.agentSelfFenced})`, 'self-fenced {{module}}'),
        ],
        'short',
      ),
    ],
  };
}
