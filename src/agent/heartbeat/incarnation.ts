import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * This agent's incarnation (src/agent/heartbeat/wire.ts): a counter in `<state dir>/incarnation`,
 * raised and synced to disk at every start, so that peers tell a restarted agent from a replay of
 * the one before without trusting any clock. When the counter cannot be kept (a read-only or full
 * disk), the start time in ms stands in: higher than any counter, so peers take it at once; a
 * later start that can write again counts on from the file, lower, and peers take that one once
 * the previous incarnation has been silent for two seconds (src/agent/heartbeat/verify.ts).
 */
export async function nextIncarnation(dir: string, now: () => number = Date.now): Promise<{ incarnation: number; error?: string }> {
  const file = join(dir, 'incarnation');
  try {
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return '0';
      throw e;
    });
    const last = Number.parseInt(text.trim(), 10);
    const next = (Number.isSafeInteger(last) && last >= 0 ? last : 0) + 1;
    await mkdir(dir, { recursive: true });
    // Written aside, synced, then renamed over: a crash leaves the old counter or the new one, never half of one.
    const tmp = `${file}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(`${next}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
    return { incarnation: next };
  } catch (e) {
    return { incarnation: now(), error: `${file}: ${(e as Error).message}` };
  }
}
