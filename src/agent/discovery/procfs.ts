/**
 * Parsers for the text files discovery reads. Pure: text in, facts out; undefined where the text
 * does not say.
 */

/** A device-tree string property: NUL-terminated, and a list when NUL-separated (`compatible`). */
export function deviceTreeStrings(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split('\0')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export interface CpuInfo {
  /** Logical CPUs: the `processor` entries. */
  processors: number;
  arch?: 'arm64' | 'amd64';
  /** x86 `model name`, e.g. "Intel(R) Celeron(R) N5105 @ 2.00GHz". */
  modelName?: string;
  /** Raspberry Pi revision code (the downstream kernel appends `Revision : c03140`). */
  revision?: number;
}

export function parseCpuInfo(text: string): CpuInfo {
  const fields = new Map<string, string>();
  let processors = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'processor') processors++;
    if (!fields.has(key)) fields.set(key, value);
  }
  const revision = fields.get('Revision');
  const info: CpuInfo = { processors };
  // arm64 kernels print `CPU architecture: 8` (AArch64); x86-64 lists the `lm` (long mode) flag.
  if (fields.get('CPU architecture') === '8') info.arch = 'arm64';
  else if (/(^|\s)lm(\s|$)/.test(fields.get('flags') ?? '')) info.arch = 'amd64';
  const modelName = fields.get('model name');
  if (modelName) info.modelName = modelName;
  if (revision && /^[0-9a-f]+$/i.test(revision)) info.revision = Number.parseInt(revision, 16);
  return info;
}

/** `MemTotal` in bytes (meminfo counts in KiB and calls them kB). */
export function parseMemTotal(text: string): number | undefined {
  const m = /^MemTotal:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** `# R35 (release), REVISION: 4.1, GCID: ..., BOARD: t186ref, ...` → `R35.4.1`. */
export function parseTegraRelease(text: string): string | undefined {
  const m = /^# R(\d+) \(release\), REVISION: ([\d.]+)/m.exec(text);
  return m ? `R${m[1]}.${m[2]}` : undefined;
}

export interface RpiRevision {
  /** The board type field: 0x14 CM4, 0x18 CM5 (and others for non-compute boards). */
  type: number;
  memoryBytes: number;
}

/**
 * Decodes a new-style Raspberry Pi revision code (`NOQuuuWuFMMMCCCCPPPPTTTTTTTTRRRR`): bit 23
 * marks the new style, bits 4-11 are the type, bits 20-22 the memory size (256MB << n).
 */
export function decodeRpiRevision(code: number): RpiRevision | undefined {
  if (((code >> 23) & 1) !== 1) return undefined;
  return { type: (code >> 4) & 0xff, memoryBytes: 256 * 1024 ** 2 * 2 ** ((code >> 20) & 7) };
}

export const RPI_TYPE = { cm4: 0x14, cm5: 0x18 } as const;
