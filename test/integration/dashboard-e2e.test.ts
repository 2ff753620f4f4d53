import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBox } from '../../src/apply/apply.js';
import { Cluster } from '../../src/apply/cluster.js';
import { launchChromium, type HeadlessBrowser } from '../../src/dashboard/chromium.js';
import type { DashboardView, WatchRecord } from '../../src/dashboard/view.js';
import { readState } from '../../src/local/box-state.js';
import { planBox } from '../../src/plan/plan-box.js';
import { loadSpec } from '../../src/spec/load.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { workloadPods } from './apply-helpers.js';
import { startDashboardCli, type RunningDashboard } from './dashboard-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

const SPEC = 'examples/article-box.yaml';
const NS = 'vision-cell';

/**
 * The dashboard end to end: a local box of the seed design with one agent per module, the
 * seed workloads applied, `edgebox dashboard --local-dir` as a user starts it, and Debian's
 * Chromium driving the page.
 */
describe('edgebox dashboard on a local box', () => {
  let box: Box;
  let spec: BoxSpec;
  let dashboard: RunningDashboard;
  let chromium: HeadlessBrowser;
  let page: Page;

  const api = async <T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
    const res = await fetch(new URL(path, dashboard.url), init);
    return { status: res.status, body: (await res.json()) as T };
  };
  const slot = (module: string) => page.locator(`[data-module="${module}"]`);

  beforeAll(async () => {
    spec = (await loadSpec(SPEC)).box;
    box = await startBox(SPEC, { timings: 'tuned', withAgents: true, withController: true, controlPlane: 'single' });
    await applyBox({ box: spec, cluster: new Cluster(box.kc) });
    for (const w of ['detector-a', 'motor-controller']) {
      await eventually(async () => expect((await workloadPods(box.kc, NS, w)).map((p) => p.phase)).toEqual(['Running']), {
        timeoutMs: 60_000,
        intervalMs: 500,
        message: `${w} Running`,
      });
    }
    dashboard = await startDashboardCli(['--local-dir', box.dir]);
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    await page.setViewportSize({ width: 1366, height: 900 });
  });
  afterAll(async () => {
    await chromium?.close();
    await dashboard?.stop();
    await box?.stop();
  });

  it('shows every module of the seed box in its slot with its role and health', async () => {
    await page.goto(dashboard.url);
    const servers = planBox(spec).controlPlane.servers;
    for (const m of spec.spec.modules) {
      const role = servers.includes(m.name) ? 'server' : 'agent';
      await expect.poll(() => slot(m.name).locator('.role').textContent(), { timeout: 10_000 }).toContain(role);
      await expect.poll(() => slot(m.name).locator('.health').textContent(), { timeout: 10_000 }).toContain('healthy');
    }
    expect(await page.locator('[data-module]').count()).toBe(spec.spec.modules.length);
    // Keyboard: skip link, the token field, then the views, in reading order.
    const focused: string[] = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      focused.push(
        await page.evaluate(() => {
          const el = document.activeElement as HTMLElement;
          return el.tagName === 'INPUT' ? `input#${el.id}` : (el.textContent ?? '');
        }),
      );
    }
    expect(focused).toEqual(['Skip to content', 'input#token-input', 'Box', 'Workloads', 'Timeline']);
    expect(await page.getByRole('link', { name: 'Box' }).getAttribute('aria-current')).toBe('page');
    // A tablet's width: nothing sticks out sideways (the workloads table scrolls in its own region).
    for (const route of ['box', 'workloads', 'timeline', 'what-if']) {
      await page.setViewportSize({ width: 768, height: 1000 });
      await page.goto(`${dashboard.url}#/${route}`);
      await page.locator('main h2').waitFor();
      expect(await page.evaluate(() => document.documentElement.scrollWidth), route).toBeLessThanOrEqual(768);
    }
    await page.setViewportSize({ width: 1366, height: 900 });
  });

  it('refuses kill and revive without the token, over HTTP and in the page', async () => {
    const none = await api<{ error: { code: string } }>('api/modules/motor-1/kill', { method: 'POST' });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('dashboard.token-required');
    const wrong = await api<{ error: { code: string } }>('api/modules/motor-1/kill', { method: 'POST', headers: { authorization: 'Bearer not-the-token' } });
    expect(wrong.status).toBe(403);
    expect((await api('api/auth', { headers: { authorization: `Bearer ${dashboard.token}` } })).status).toBe(200);

    await page.goto(dashboard.url);
    await expect.poll(() => page.getByText('Read-only').count()).toBe(1);
    await page.getByRole('button', { name: 'Kill motor-1' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Refused \(401\)/);
    expect((await readState(box.dir))?.killed).toEqual([]);
    expect(await slot('motor-1').locator('.power-off').count()).toBe(0);
  });

  it('updates the page within 1 s of a node change, from the watch event to the DOM', async () => {
    await page.goto(dashboard.url);
    await slot('net-1').waitFor();
    const core = box.kc.makeApiClient(CoreV1Api);
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const text = `probe=p${i}-${Date.now()}`;
      // The page records when the label appears; the server records when the watch event arrived.
      const seen = page.evaluate(
        (want) =>
          new Promise<number>((done) => {
            const observer = new MutationObserver(() => {
              if (document.querySelector('[data-module="net-1"] .labels')?.textContent?.includes(want)) {
                observer.disconnect();
                done(Date.now());
              }
            });
            observer.observe(document.body, { subtree: true, childList: true, characterData: true });
          }),
        text,
      );
      const patched = await core.patchNode(
        { name: 'net-1', body: { metadata: { labels: { probe: text.split('=')[1] } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      const shownAt = await seen;
      const log = await api<WatchRecord[]>('api/watch-log');
      // resourceVersion is opaque: compared for equality only.
      const event = log.body.find((r) => r.kind === 'Node' && r.name === 'net-1' && r.resourceVersion === patched.metadata?.resourceVersion);
      expect(event, 'the watch event of the patch').toBeDefined();
      latencies.push(shownAt - event!.receivedAt);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    console.info(`watch event -> DOM: ${latencies.map((l) => `${l} ms`).join(', ')} (median ${sorted[2]} ms, max ${sorted[4]} ms)`);
    expect(Math.max(...latencies)).toBeLessThan(1000);
    expect(Math.min(...latencies)).toBeGreaterThanOrEqual(0);
  });

  it('kill from the page: the module shows failed within seconds, then its workload moves', async () => {
    const view = (await api<DashboardView>('api/view')).body;
    const victim = view.workloads.find((w) => w.name === 'detector-a')!.runningOn[0]!;
    const other = spec.spec.modules.map((m) => m.name).find((m) => m !== victim && m.startsWith('jetson'))!;
    await page.goto(`${dashboard.url}#token=${dashboard.token}`);
    await expect.poll(() => page.getByText('Actions enabled').count()).toBe(1);

    const clicked = Date.now();
    await page.getByRole('button', { name: `Kill ${victim}` }).click();
    await expect.poll(() => slot(victim).locator('.power-off').count(), { timeout: 5_000 }).toBe(1);
    // The agents stop hearing it within a second; a quorum of their views marks it failed, and
    // the controller fences it a moment later (either may be what the page shows first).
    await expect.poll(() => slot(victim).locator('.health').textContent(), { timeout: 10_000, interval: 100 }).toMatch(/failed|fenced/);
    const failedAfter = Date.now() - clicked;
    console.info(`kill -> ${victim} shown failed after ${failedAfter} ms`);
    expect(failedAfter).toBeLessThan(10_000);

    // The controller fences it and releases its pods: detector-a runs on the other Jetson within
    // seconds (without self-healing it would take the tuned 20 s grace plus 5 s toleration).
    await page.getByRole('link', { name: 'Workloads' }).click();
    const row = page.locator('[data-workload="detector-a"]');
    await expect.poll(() => row.locator('.runs-on').textContent(), { timeout: 15_000, interval: 200 }).toBe(other);
    console.info(`kill -> detector-a shown on ${other} after ${Date.now() - clicked} ms`);
    await expect.poll(() => row.locator('.failover').textContent(), { timeout: 10_000 }).toMatch(new RegExp(`${victim} → ${other} in [\\d.]+ m?s`));
    console.info(`detector-a failover shown: ${await row.locator('.failover').textContent()}`);

    await page.getByRole('link', { name: 'Timeline' }).click();
    await expect.poll(() => page.locator('.tl-detection').first().textContent(), { timeout: 10_000 }).toContain(victim);
    await expect.poll(() => page.locator('.tl-placement').first().textContent(), { timeout: 10_000 }).toContain('detector-a');

    await page.getByRole('link', { name: 'Box' }).click();
    await page.getByRole('button', { name: `Revive ${victim}` }).click();
    await expect.poll(() => slot(victim).locator('.power-off').count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => slot(victim).locator('.health').textContent(), { timeout: 60_000, interval: 500 }).toContain('healthy');
  });

  it('what-if: losing a server keeps quorum, losing two loses it; no cluster needed for the answer', async () => {
    await page.goto(`${dashboard.url}#/what-if`);
    await page.getByRole('checkbox', { name: /master-1/ }).check();
    await expect.poll(() => page.locator('.verdict').textContent()).toContain('Quorum kept');
    await page.getByRole('checkbox', { name: /net-1/ }).check();
    await expect.poll(() => page.locator('.verdict').textContent()).toContain('Quorum lost, restorable');
    expect(await page.locator('.whatif-result').textContent()).toContain('1 of 3 servers survive (jetson-1)');
    // Only two at once: the others are disabled.
    expect(await page.getByRole('checkbox', { name: /motor-1/ }).isDisabled()).toBe(true);
  });
});
