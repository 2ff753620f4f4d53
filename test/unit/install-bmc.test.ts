import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { bmcEnvText, readBmcInputs } from '../../src/install/bmc.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

/** systemd's reading of an EnvironmentFile line with a double-quoted value (a backslash escapes the next character). */
function systemdValue(line: string): string {
  const m = /^[A-Z_]+="((?:[^"\\]|\\.)*)"$/.exec(line);
  if (!m) throw new Error(`not a quoted assignment: ${line}`);
  return m[1]!.replace(/\\(.)/g, '$1');
}

async function refusal(p: Promise<unknown>): Promise<{ kind: string; code: string; message: string }> {
  const e = await p.then(
    () => expect.unreachable(),
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(EdgeboxError);
  const d = (e as EdgeboxError).diagnostics[0]!;
  return { kind: (e as EdgeboxError).kind, code: d.code, message: d.message };
}

describe("the BMC login install carries, from the installing shell's environment", () => {
  it('is none when neither variable is set', async () => {
    expect(await readBmcInputs({}, undefined)).toBeUndefined();
  });

  it('takes both, and the certificate given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgebox-bmc-'));
    await writeFile(join(dir, 'bmc.pem'), PEM);
    expect(await readBmcInputs({ EDGEBOX_BMC_USERNAME: 'root', EDGEBOX_BMC_PASSWORD: 'turing' }, join(dir, 'bmc.pem'))).toEqual({
      username: 'root',
      password: 'turing',
      ca: PEM,
    });
  });

  it.each([
    [{ EDGEBOX_BMC_USERNAME: 'root' }, 'EDGEBOX_BMC_PASSWORD is not set'],
    [{ EDGEBOX_BMC_USERNAME: 'root', EDGEBOX_BMC_PASSWORD: '' }, 'EDGEBOX_BMC_PASSWORD is empty'],
    [{ EDGEBOX_BMC_PASSWORD: 'turing' }, 'EDGEBOX_BMC_USERNAME is not set'],
    [{ EDGEBOX_BMC_USERNAME: 'root', EDGEBOX_BMC_PASSWORD: 'two\nlines' }, 'EDGEBOX_BMC_PASSWORD holds a line break'],
  ])('refuses %j as wrong input (exit 2): %s', async (env, message) => {
    expect(await refusal(readBmcInputs(env, undefined))).toMatchObject({ kind: 'input', code: 'install.bmc-login', message: expect.stringContaining(message) });
  });

  it('refuses a certificate without a login, an unreadable file and a file that is no PEM certificate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgebox-bmc-'));
    await writeFile(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n');
    const login = { EDGEBOX_BMC_USERNAME: 'root', EDGEBOX_BMC_PASSWORD: 'turing' };
    expect(await refusal(readBmcInputs({}, join(dir, 'key.pem')))).toMatchObject({ kind: 'input', code: 'install.bmc-login' });
    expect(await refusal(readBmcInputs(login, join(dir, 'missing.pem')))).toMatchObject({ kind: 'input', code: 'install.bmc-ca' });
    expect(await refusal(readBmcInputs(login, join(dir, 'key.pem')))).toMatchObject({
      kind: 'input',
      code: 'install.bmc-ca',
      message: expect.stringContaining('holds no PEM certificate'),
    });
  });
});

describe("the agents' environment file", () => {
  it('gives systemd back the login as typed, quotes, backslashes and dollars included', () => {
    const text = bmcEnvText({ username: 'root', password: 'a "b" \\c $d `e`', ca: PEM });
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines.map((l) => l.split('=')[0])).toEqual(['EDGEBOX_BMC_USERNAME', 'EDGEBOX_BMC_PASSWORD', 'NODE_EXTRA_CA_CERTS']);
    expect(systemdValue(lines[0]!)).toBe('root');
    expect(systemdValue(lines[1]!)).toBe('a "b" \\c $d `e`');
    expect(lines[2]).toBe('NODE_EXTRA_CA_CERTS=/etc/edgebox/bmc-ca.crt');
  });

  it('names no certificate when none was given', () => {
    expect(bmcEnvText({ username: 'root', password: 'turing' })).not.toContain('NODE_EXTRA_CA_CERTS');
  });
});
