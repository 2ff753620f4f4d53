import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILOVER_BUCKETS, FAILOVER_TARGET_SECONDS, METRICS } from '../../src/contract/metrics.js';
import { binaryPath, toolchainPaths } from '../../src/local/cache.js';
import { loadPackagingToolchain } from '../../src/local/toolchain.js';
import { failoverDashboard, renderMonitoring, type AlertRule } from '../../src/render/monitoring.js';
import { EXAMPLES, example } from '../unit/render-fixtures.js';

/**
 * The monitoring `edgebox render` writes, checked by Prometheus's own `promtool` (built by `edgebox
 * local setup` from github.com/prometheus/prometheus): the PrometheusRule's groups pass `check
 * rules`; every query of the Grafana dashboard parses (as recording rules, Grafana's interval
 * variables replaced); and `test rules` evaluates each alert on series shaped as edgebox exports
 * them: it fires on the fault it names, after its `for`, with its labels and annotations, and
 * stays silent on a healthy box.
 */
const run = promisify(execFile);
let promtool: string;
let dir: string;

interface Rendered {
  kind: string;
  spec?: { groups: { name: string; rules: AlertRule[] }[] };
  data?: Record<string, string>;
}
const monitoring = (name: string) => renderMonitoring(example(name)) as unknown as Rendered[];
const groupsOf = (name: string) => monitoring(name).find((o) => o.kind === 'PrometheusRule')!.spec!.groups;

async function promtoolOk(...args: string[]): Promise<string> {
  try {
    return (await run(promtool, args, { cwd: dir })).stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`, { cause: e });
  }
}

/** `promtool test rules` on article-box's rendered rules with these unit tests. */
async function testRules(file: string, tests: object[]): Promise<string> {
  await writeFile(join(dir, 'rules.yaml'), stringify({ groups: groupsOf('article-box') }));
  await writeFile(join(dir, file), stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }, { lineWidth: 0 }));
  return promtoolOk('test', 'rules', file);
}

beforeAll(async () => {
  promtool = binaryPath(toolchainPaths(await loadPackagingToolchain()), 'promtool');
  dir = await mkdtemp(join(tmpdir(), 'edgebox-promtool-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the rendered monitoring, checked by promtool', () => {
  it.each(EXAMPLES)('%s: the PrometheusRule passes promtool check rules', async (name) => {
    await writeFile(join(dir, `${name}.rules.yaml`), stringify({ groups: groupsOf(name) }));
    expect(await promtoolOk('check', 'rules', `${name}.rules.yaml`)).toContain('SUCCESS: 6 rules found');
  });

  it.each(EXAMPLES)('%s: every query of the failover dashboard parses', async (name) => {
    const dashboard = JSON.parse(monitoring(name).find((o) => o.kind === 'ConfigMap')!.data!['edgebox-failover.json']!) as {
      panels: { targets: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBe(JSON.stringify(failoverDashboard(example(name))).match(/"expr"/g)!.length);
    // Grafana replaces these before Prometheus sees the query.
    const rules = exprs.map((expr, i) => ({
      record: `edgebox:dashboard_query:${i}`,
      expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h'),
    }));
    await writeFile(join(dir, `${name}.dashboard.yaml`), stringify({ groups: [{ name: 'dashboard', rules }] }));
    expect(await promtoolOk('check', 'rules', `${name}.dashboard.yaml`)).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});

describe('the alerts, evaluated by promtool test rules (article-box: 3 servers)', () => {
  const rules = groupsOf('article-box')[0]!.rules;
  const rule = (alert: string) => rules.find((r) => r.alert === alert)!;
  const servers = /module=~"([^"]+)"/.exec(rule('EdgeboxQuorumAtRisk').expr)![1]!.split('|');
  /** What the alert fires with: its labels, the series' labels, its annotations with them filled in. */
  const firing = (alert: string, labels: Record<string, string> = {}) => {
    const fill = (s: string) => s.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, l: string) => labels[l] ?? '');
    const { summary, description } = rule(alert).annotations;
    return { exp_labels: { ...rule(alert).labels, ...labels }, exp_annotations: { summary: fill(summary), description: fill(description) } };
  };
  /** A histogram of one failover of `seconds` in minute 2 (edgebox_failover_seconds, stage ready). */
  const failover = (seconds: number) => [
    ...[...FAILOVER_BUCKETS.map(String), '+Inf'].map((le) => ({
      series: `${METRICS.failoverSeconds}_bucket{stage="ready",le="${le}"}`,
      values: le === '+Inf' || Number(le) >= seconds ? '0 0 1x10' : '0x12',
    })),
    { series: `${METRICS.failoverSeconds}_count{stage="ready"}`, values: '0 0 1x10' },
  ];
  const healthy = [
    ...servers.map((m) => ({ series: `up{job="edgebox-agents",module="${m}"}`, values: '1x12' })),
    { series: `${METRICS.fencings}{method="power"}`, values: '0x12' },
    { series: `${METRICS.leader}{pod="edgebox-controller-a"}`, values: '1x12' },
    { series: `${METRICS.leader}{pod="edgebox-controller-b"}`, values: '0x12' },
    { series: `${METRICS.peripheralOwned}{peripheral="motor-bus"}`, values: '1x12' },
    { series: `${METRICS.agentSelfFenced}{module="motor-1"}`, values: '0x12' },
  ];
  const replace = (series: { series: string; values: string }[], changed: { series: string; values: string }[]) => [
    ...series.filter((s) => !changed.some((c) => c.series === s.series)),
    ...changed,
  ];

  it('each alert fires on its fault, after its `for`, and not before', async () => {
    const cases = [
      {
        alert: 'EdgeboxQuorumAtRisk',
        input: replace(healthy, [{ series: `up{job="edgebox-agents",module="${servers[2]}"}`, values: '1 1 0x10' }]),
        before: 2,
        expected: [firing('EdgeboxQuorumAtRisk')],
      },
      {
        alert: 'EdgeboxModuleFenced',
        input: replace(healthy, [{ series: `${METRICS.fencings}{method="power"}`, values: '0 0 1x10' }]),
        before: 1,
        expected: [firing('EdgeboxModuleFenced', { method: 'power' })],
      },
      {
        alert: 'EdgeboxModuleSelfFenced',
        input: replace(healthy, [{ series: `${METRICS.agentSelfFenced}{module="motor-1"}`, values: '0 0 1x10' }]),
        before: 2,
        expected: [firing('EdgeboxModuleSelfFenced', { module: 'motor-1' })],
      },
      {
        alert: 'EdgeboxFailoverOverTarget',
        input: [...healthy, ...failover(FAILOVER_TARGET_SECONDS + 5)],
        before: 1,
        expected: [firing('EdgeboxFailoverOverTarget')],
      },
      {
        alert: 'EdgeboxPeripheralWithoutOwner',
        input: replace(healthy, [{ series: `${METRICS.peripheralOwned}{peripheral="motor-bus"}`, values: '1 1 0x10' }]),
        before: 2,
        expected: [firing('EdgeboxPeripheralWithoutOwner', { peripheral: 'motor-bus' })],
      },
      {
        alert: 'EdgeboxNoController',
        input: replace(healthy, [{ series: `${METRICS.leader}{pod="edgebox-controller-a"}`, values: '1 1 0x10' }]),
        before: 3,
        expected: [firing('EdgeboxNoController')],
      },
    ];
    expect(cases.map((c) => c.alert).sort()).toEqual(rules.map((r) => r.alert).sort());
    const tests = cases.map((c) => ({
      interval: '1m',
      input_series: c.input,
      alert_rule_test: [
        { eval_time: `${c.before}m`, alertname: c.alert, exp_alerts: [] },
        { eval_time: '6m', alertname: c.alert, exp_alerts: c.expected },
      ],
    }));
    expect(await testRules('faults.test.yaml', tests)).toContain('SUCCESS');
  });

  it('a healthy box, and a failover within its target, raise no alert', async () => {
    const tests = [
      {
        interval: '1m',
        input_series: [...healthy, ...failover(FAILOVER_TARGET_SECONDS - 5)],
        alert_rule_test: rules.map((r) => ({ eval_time: '10m', alertname: r.alert, exp_alerts: [] })),
      },
    ];
    expect(await testRules('healthy.test.yaml', tests)).toContain('SUCCESS');
  });
});
