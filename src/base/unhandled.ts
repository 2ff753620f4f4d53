import type { Log } from './log.js';

/**
 * Node ends the process on a promise rejection nobody handles. In a daemon whose loops keep a
 * module safe (heartbeats, self-fencing, grants, fencing) one forgotten `.catch` must not stop all
 * of them: the rejection is logged, with what it was, and the process goes on. Every loop still
 * handles its own errors; this is the last resort. Returns the uninstaller (for tests).
 */
export function logUnhandledRejections(log: Log, who: string): () => void {
  const handler = (reason: unknown) => {
    const e = reason instanceof Error ? reason : new Error(String(reason));
    log('error', `unhandled rejection: logged, the ${who} goes on`, { error: e.message, stack: e.stack?.split('\n').slice(0, 6).join(' | ') });
  };
  process.on('unhandledRejection', handler);
  return () => process.off('unhandledRejection', handler);
}
