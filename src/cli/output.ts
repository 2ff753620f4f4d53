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

/** `--context <name>`, beside every `--kubeconfig`, as kubectl users expect. */
export function contextOption(): Option {
  return new Option('--context <name>', 'kubeconfig context to use (default: its current context)');
}

/** Writes a result as JSON or YAML, or as the text a renderer makes of it. */
export function emit<T>(data: T, format: OutputFormat, text: (data: T) => string): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'yaml') process.stdout.write(yaml().stringify(data, { lineWidth: 0 }));
  else process.stdout.write(text(data));
}

/**
 * Set by a command that runs edgebox as a child for data (`-o json` on stdout) whose errors must
 * reach the user as the parent's own would: `json` or `text`.
 */
export const ERROR_FORMAT_ENV = 'EDGEBOX_ERROR_FORMAT';

/**
 * The format failures are printed in: ERROR_FORMAT_ENV when set, else what `-o`/`--output` asks
 * for in raw argv (a command that failed may not have parsed its options). Default: text.
 */
export function requestedFormat(argv: readonly string[], env: NodeJS.ProcessEnv = {}): OutputFormat {
  const forced = env[ERROR_FORMAT_ENV];
  if (forced === 'json' || forced === 'text') return forced;
  let format: string | undefined;
  argv.forEach((a, i) => {
    if (a === '-o' || a === '--output') format = argv[i + 1];
    else if (a.startsWith('--output=')) format = a.slice('--output='.length);
    else if (a.startsWith('-o') && a.length > 2) format = a.slice(2).replace(/^=/, '');
  });
  return (OUTPUT_FORMATS as readonly string[]).includes(format ?? '') ? (format as OutputFormat) : 'text';
}

/** Colour only when writing to a terminal (and NO_COLOR is unset). */
export function useColor(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}
