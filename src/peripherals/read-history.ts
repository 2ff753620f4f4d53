import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeboxError, inputError, type Diagnostic } from '../diagnostics/diagnostic.js';
import { parseHistory, type LocatedRecord } from './history.js';

/**
 * Reading history files: each agent writes its own, and they are read together. A local box
 * keeps them in `<box dir>/peripherals/<module>.jsonl`.
 */

/** The history files of a directory: its `peripherals/*.jsonl` when it has that folder (a box dir), else its own `*.jsonl`. */
export async function historyFilesIn(dir: string): Promise<string[]> {
  const sub = join(dir, 'peripherals');
  const where = await stat(sub).then(
    (s) => (s.isDirectory() ? sub : dir),
    () => dir,
  );
  let names: string[];
  try {
    names = await readdir(where);
  } catch (e) {
    throw inputError(
      'peripheral.no-history-dir',
      `cannot read ${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'pass --dir <box dir>, or a directory of *.jsonl history files',
    );
  }
  return names
    .filter((n) => n.endsWith('.jsonl'))
    .sort()
    .map((n) => join(where, n));
}

/** Every record of the files; bad lines are reported together, as bad input (exit 2). */
export async function readHistory(files: readonly string[]): Promise<LocatedRecord[]> {
  const records: LocatedRecord[] = [];
  const problems: Diagnostic[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      problems.push({
        code: 'peripheral.unreadable-history',
        severity: 'error',
        message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        hint: 'pass the path of a history file an agent wrote (JSON lines)',
      });
      continue;
    }
    const parsed = parseHistory(text, file);
    records.push(...parsed.records);
    problems.push(...parsed.problems);
  }
  if (problems.length) throw new EdgeboxError('input', problems);
  return records.sort((a, b) => a.atMs - b.atMs || a.file.localeCompare(b.file) || a.line - b.line);
}
