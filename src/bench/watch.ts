import { Watch, type KubeConfig } from '@kubernetes/client-node';

/** What the benchmarks share: progress lines, second figures, watches that survive drops. */
export const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** A watched object as it arrives: raw JSON, read field by field where it is used. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- raw watch JSON, as loose as the API sends it
export type RawObject = Record<string, any>;

export const seconds = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);

/**
 * A watch that survives drops: when the server ends it (timeouts, restarts), it starts again
 * from the last resourceVersion seen, or from scratch after 410 Gone. Stops on abort. `at` is
 * when the event arrived: the benchmarks' clock.
 */
export function keepWatching(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>,
  onEvent: (type: string, obj: RawObject, at: number) => void,
  signal: AbortSignal,
): void {
  let resourceVersion: string | undefined;
  const start = async (): Promise<void> => {
    if (signal.aborted) return;
    const req = await new Watch(kc).watch(
      path,
      { ...query, allowWatchBookmarks: true, ...(resourceVersion ? { resourceVersion } : {}) },
      (type, obj) => {
        const at = Date.now();
        if (type === 'ERROR') {
          // 410 Gone: the version is too old to resume from; list afresh.
          resourceVersion = undefined;
          return;
        }
        resourceVersion = obj?.metadata?.resourceVersion ?? resourceVersion;
        if (type !== 'BOOKMARK') onEvent(type, obj, at);
      },
      () => {
        if (!signal.aborted) setTimeout(() => void start(), 500);
      },
    );
    signal.addEventListener('abort', () => req.abort(), { once: true });
  };
  void start();
}

const PROGRESS_EVERY_MS = 15_000;

/**
 * Polls until `done`, failing after `deadlineMs` (naming what it waited for) or on abort. With
 * `status`, prints it every 15 s so a long wait shows progress. `pollMs` bounds how late `done`
 * is noticed; the figures themselves come from watch-event times, not from this poll.
 */
export async function until(
  what: string,
  done: () => boolean,
  opts: { deadlineMs: number; signal: AbortSignal; status?: () => string; pollMs?: number },
): Promise<void> {
  const start = Date.now();
  let nextReport = start + PROGRESS_EVERY_MS;
  while (!done()) {
    if (opts.signal.aborted) throw new Error('interrupted');
    if (Date.now() - start > opts.deadlineMs)
      throw new Error(`timed out after ${seconds(opts.deadlineMs)} waiting for ${what}${opts.status ? ` (${opts.status()})` : ''}`);
    if (opts.status && Date.now() >= nextReport) {
      log(`    ${opts.status()}`);
      nextReport += PROGRESS_EVERY_MS;
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
}
