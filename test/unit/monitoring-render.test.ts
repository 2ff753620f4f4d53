import { describe, expect, it } from 'vitest';
import { AgentMetrics, formatMetrics } from '../../src/agent/heartbeat/metrics.js';
import { FAILOVER_BUCKETS, FAILOVER_TARGET_SECONDS } from '../../src/contract/metrics.js';
import { GuardianMetrics } from '../../src/controller/guardian/metrics.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { PeripheralMetrics } from '../../src/controller/peripherals/metrics.js';
import { alertRules, failoverDashboard, renderMonitoring } from '../../src/render/monitoring.js';
import { EXAMPLES, example, labBox } from './render-fixtures.js';

/** Every family edgebox exports, with its type: the controller's registry and an agent's text. */
async function exported(): Promise<{ name: string; type: string }[]> {
  const controller = new ControllerMetrics();
  new GuardianMetrics(controller.registry);
  new PeripheralMetrics(controller.registry);
  const fromController = (await controller.registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));
  const text = formatMetrics(new AgentMetrics(), { m2: { reachable: true, suspicion: 0, lastSeen: null } } as never, true);
  const fromAgent = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
  return [...fromController, ...fromAgent];
}

describe('metric names follow the Prometheus conventions', () => {
  it('counters end in _total and nothing else does; durations are histograms in seconds; names are snake_case with the edgebox_ prefix', async () => {
    const families = await exported();
    expect(families.length).toBeGreaterThan(15);
    for (const { name, type } of families) {
      expect(name, name).toMatch(/^edgebox_[a-z][a-z0-9_]*[a-z0-9]$/);
      expect(name.endsWith('_total'), `${name} is a ${type}`).toBe(type === 'counter');
      expect(name, name).not.toMatch(/_(ms|milliseconds|minutes|hours|bytes_total_total|count|sum|bucket)$/);
      if (type === 'histogram') expect(name, name).toMatch(/_seconds$/);
    }
    expect(new Set(families.map((f) => f.name)).size).toBe(families.length);
  });

  it('the alert rules and the dashboard query only series edgebox exports (and up)', async () => {
    const names = new Set((await exported()).map((f) => f.name));
    const box = example('article-box');
    const text = JSON.stringify([alertRules(box), failoverDashboard(box)]);
    const used = [...text.matchAll(/\b(edgebox_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''));
    expect(used.length).toBeGreaterThan(5);
    for (const name of used) expect(names, name).toContain(name);
  });

  it('the failover target is a bucket boundary, so the alert counts the failovers above it exactly', () => {
    expect(FAILOVER_BUCKETS).toContain(FAILOVER_TARGET_SECONDS);
  });
});

describe('renderMonitoring', () => {
  it.each([
    [1, '<= 0'],
    [3, '<= 2'],
  ])('with %i servers, quorum at risk fires when %s of their agents answer', (servers, threshold) => {
    const rule = alertRules(labBox({ servers })).find((r) => r.alert === 'EdgeboxQuorumAtRisk')!;
    expect(rule.expr.endsWith(threshold)).toBe(true);
    expect(rule.expr.match(/module=~"([^"]+)"/)![1]!.split('|')).toHaveLength(servers);
  });

  it('has an alert for quorum at risk, fencing, failover over target and a peripheral without owner', () => {
    expect(alertRules(example('article-box')).map((r) => r.alert)).toEqual(
      expect.arrayContaining(['EdgeboxQuorumAtRisk', 'EdgeboxModuleFenced', 'EdgeboxFailoverOverTarget', 'EdgeboxPeripheralWithoutOwner']),
    );
  });

  it.each(EXAMPLES)('%s: the agents are scraped on every module address, with the token, labelled by module', (name) => {
    const box = example(name);
    const objects = renderMonitoring(box);
    const endpoints = objects.find((o) => o.kind === 'Endpoints') as unknown as { subsets: { addresses: { ip: string; hostname: string }[] }[] };
    expect(endpoints.subsets.flatMap((s) => s.addresses)).toEqual(expect.arrayContaining(box.spec.modules.map((m) => ({ ip: m.address, hostname: m.name }))));
    const monitors = objects.filter((o) => o.kind === 'ServiceMonitor');
    expect(monitors.map((m) => m.metadata.name)).toEqual(['edgebox-controller', 'edgebox-agents']);
    expect(JSON.stringify(monitors[1])).toContain('"authorization":{"type":"Bearer"');
    // Only names the dashboard and rules Secret carry; nothing of the box secret itself.
    expect(JSON.stringify(objects)).not.toMatch(/[0-9a-f]{64}/);
  });

  it('the dashboard shows the failover stages in order: detect, fence, release, Ready', () => {
    const dashboard = failoverDashboard(example('article-box')) as { panels: { targets: { legendFormat: string }[] }[] };
    expect(dashboard.panels[0]!.targets.map((t) => t.legendFormat)).toEqual(['detected', 'fenced', 'released', 'ready']);
  });
});
