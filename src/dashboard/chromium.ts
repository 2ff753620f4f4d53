import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { failure } from '../diagnostics/diagnostic.js';

/** Debian's Chromium (`apt-get install -y chromium`): Playwright's own browser downloads are not used. */
export const CHROMIUM = process.env.EDGEBOX_CHROMIUM ?? '/usr/bin/chromium';

export interface HeadlessBrowser {
  /** A persistent context on the fresh profile: open pages with `context.newPage()`. */
  context: BrowserContext;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * A headless Chromium with a fresh profile, for the end-to-end tests and the screenshots. For
 * the dev tooling only: playwright-core is a devDependency.
 */
export async function launchChromium(): Promise<HeadlessBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'edgebox-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (e) {
    await rm(profile, { recursive: true, force: true });
    throw failure(
      'dashboard.no-chromium',
      `cannot start Chromium at ${CHROMIUM}: ${(e as Error).message.split('\n')[0]}`,
      'install it with `apt-get install -y chromium` (as root), or point EDGEBOX_CHROMIUM at a Chromium binary',
    );
  }
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
