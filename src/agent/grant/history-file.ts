import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatRecord, HISTORY_VERSION, type HistoryRecord } from '../../peripherals/history.js';

export type Append = (r: Omit<HistoryRecord, 'v'>) => void;

/**
 * The agent's grant history, JSON lines (src/peripherals/history.ts). Written synchronously:
 * a grant is answered only once its line is on disk, so a process killed right after still
 * leaves the grant in the history the checker reads.
 */
export function historyFile(path: string): Append {
  mkdirSync(dirname(path), { recursive: true });
  return (r) => appendFileSync(path, formatRecord({ v: HISTORY_VERSION, ...r }));
}
