/**
 * `npm run screenshots`: the main views of the dashboard on a live local box of the seed design,
 * written to docs/screenshots/. Starts the box (agents on, tuned timings), applies the seed
 * workloads, kills the module running detector-a and waits for the box to heal, then stops
 * everything. Needs `edgebox local setup` and Debian's Chromium.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { applyBox } from '../apply/apply.js';
import { Cluster } from '../apply/cluster.js';
import { down } from '../local/down.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { up } from '../local/up.js';
import { loadSpec } from '../spec/load.js';
import { launchChromium } from './chromium.js';
import { LocalBox } from './local-box.js';
import { startDashboard } from './server.js';
import type { DashboardView } from './view.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SPEC = join(ROOT, 'examples/article-box.yaml');
const OUT = join(ROOT, 'docs/screenshots');
/** Kill -> NotReady (tuned 20 s) -> eviction (5 s) -> replacement, with room to spare. */
const HEAL_TIMEOUT_MS = 120_000;

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + HEAL_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`screenshots: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Shoots a view once `ready` (a selector and the text it must contain) is on the page: the live update may trail the API by a moment. */
async function shoot(page: Page, name: string, route: string, ready: [string, string], width = 1366): Promise<void> {
  await page.setViewportSize({ width, height: 860 });
  await page.goto(`${page.url().split('#')[0]}#/${route}`);
  await page.locator(ready[0]).filter({ hasText: ready[1] }).first().waitFor();
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
  process.stdout.write(`docs/screenshots/${name}.png\n`);
}

const dir = await mkdtemp(join(tmpdir(), 'edgebox-screenshots-'));
const cleanup: (() => Promise<void>)[] = [
  async () => {
    await down(dir);
    await rm(dir, { recursive: true, force: true });
  },
];
try {
  await mkdir(OUT, { recursive: true });
  const { box } = await loadSpec(SPEC);
  const started = await up(SPEC, { dir, timings: 'tuned', withAgents: true });
  await applyBox({ box, cluster: new Cluster(loadKubeConfig({ path: started.kubeconfig })) });
  const local = await LocalBox.open(dir);
  const dashboard = await startDashboard({ box, kc: loadKubeConfig({ path: started.kubeconfig }), local });
  cleanup.unshift(() => dashboard.close());
  const view = async () => (await (await fetch(`${dashboard.url}api/view`)).json()) as DashboardView;
  await until('every workload running', async () => (await view()).workloads.every((w) => w.state === 'running'));

  const chromium = await launchChromium();
  cleanup.unshift(() => chromium.close());
  const page = await chromium.context.newPage();
  await page.goto(`${dashboard.url}#token=${dashboard.token}`);
  await shoot(page, 'box', 'box', ['.health', 'healthy']);

  const victim = (await view()).workloads.find((w) => w.name === 'detector-a')!.runningOn[0]!;
  await page.goto(`${dashboard.url}#/box`);
  await page.getByRole('button', { name: `Kill ${victim}` }).click();
  await until(`${victim} shown failed`, async () => (await view()).modules.find((m) => m.name === victim)?.health === 'failed');
  await shoot(page, 'box-failed', 'box', [`[data-module="${victim}"] .health`, 'failed']);
  await until(
    'detector-a replaced and Ready',
    async () => (await view()).workloads.find((w) => w.name === 'detector-a')?.lastFailover?.durationMs !== undefined,
  );
  await shoot(page, 'workloads', 'workloads', ['[data-workload="detector-a"] .failover', ' in ']);
  await shoot(page, 'timeline', 'timeline', ['.tl-placement', 'detector-a']);
  await shoot(page, 'box-tablet', 'box', ['.terminating', 'detector-a'], 768);

  await page.setViewportSize({ width: 1366, height: 860 });
  await page.goto(`${dashboard.url}#/what-if`);
  await page.getByRole('checkbox', { name: /master-1/ }).check();
  await page.getByRole('checkbox', { name: /net-1/ }).check();
  await page.locator('.verdict').filter({ hasText: 'Quorum lost' }).waitFor();
  await page.screenshot({ path: join(OUT, 'what-if.png'), fullPage: true });
  process.stdout.write('docs/screenshots/what-if.png\n');
} finally {
  for (const step of cleanup) await step().catch((e: unknown) => process.stderr.write(`cleanup: ${(e as Error).message}\n`));
}
