import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { failure, inputError } from '../../diagnostics/diagnostic.js';

/** 32 random bytes, written as 64 hex characters: the HMAC key is the file's trimmed text. */
const SECRET_BYTES = 32;
/** A shorter key would make the HMAC guessable; the generated one has 64 characters. */
const MIN_SECRET_CHARS = 32;

export interface SecretFileResult {
  path: string;
  created: boolean;
}

/**
 * Creates the box secret file with mode 0600 unless it exists (never overwrites: every module
 * of the box must hold the same secret, so a second run on one module must not change it).
 */
export async function createSecretFile(path: string): Promise<SecretFileResult> {
  try {
    await writeFile(path, `${randomBytes(SECRET_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    return { path, created: true };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      await readSecret(path); // an existing file must still be a usable secret
      return { path, created: false };
    }
    throw failure(
      'agent.secret-write-failed',
      `cannot create the box secret ${path}: ${(e as Error).message}`,
      'pass a path in a directory that exists and that you can write to',
    );
  }
}

export interface Secret {
  key: Buffer;
  /** Group or others may read the file: worth a warning, not a refusal. */
  readableByOthers: boolean;
}

export async function readSecret(path: string): Promise<Secret> {
  let text: string;
  let mode: number;
  try {
    text = await readFile(path, 'utf8');
    mode = (await stat(path)).mode;
  } catch (e) {
    throw inputError(
      'agent.no-secret',
      `cannot read the box secret ${path}: ${(e as Error).message}`,
      `create it once with \`edgebox agent secret ${path}\` and copy the same file to every module (mode 0600)`,
    );
  }
  const key = text.trim();
  if (key.length < MIN_SECRET_CHARS) {
    throw inputError(
      'agent.weak-secret',
      `the box secret ${path} has ${key.length} characters; at least ${MIN_SECRET_CHARS} are needed`,
      'make a new one with `edgebox agent secret <path>` (64 random hex characters) and copy it to every module',
    );
  }
  return { key: Buffer.from(key, 'utf8'), readableByOthers: (mode & 0o077) !== 0 };
}
