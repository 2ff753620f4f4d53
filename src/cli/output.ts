import { createRequire } from 'node:module';
import { Option } from 'commander';

/**
 * The YAML library, loaded on the first YAML output only: `agent run`, a daemon with a 60 MB budget,
 * shares this module with commands that print, and the library alone is about 7 MB resident.
 */
const yaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export const OUTPUT_FORMATS = ['text', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `-o, --output text|json|yaml`, as kubectl users expect. */
export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('text');
}

/** Writes a result as JSON or YAML, or as the text a renderer makes of it. */
export function emit<T>(data: T, format: OutputFormat, text: (data: T) => string): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'yaml') process.stdout.write(yaml().stringify(data, { lineWidth: 0 }));
  else process.stdout.write(text(data));
}

/** Colour only when writing to a terminal (and NO_COLOR is unset). */
export function useColor(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}
