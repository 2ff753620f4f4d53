import { readFile } from 'node:fs/promises';
import { inputError } from '../diagnostics/diagnostic.js';
import { BMC_CA_PATH } from '../render/agent-unit.js';

/**
 * The Turing Pi BMC's login and certificate, carried by install to every module's agent
 * (BMC_ENV_PATH, 0600, through stdin like the token) and to the controller (the edgebox-bmc
 * Secret its Deployment reads). The login comes from the installing shell's EDGEBOX_BMC_USERNAME
 * and EDGEBOX_BMC_PASSWORD, the names the agent and the controller read, never from a flag: a
 * command line is visible to every user of a machine and kept in shell histories.
 */
export interface BmcInputs {
  username: string;
  password: string;
  /** The BMC's certificate (PEM), for its self-signed HTTPS. */
  ca?: string;
}

/** What the installing shell and `--bmc-ca` give; undefined when neither login part is set. */
export async function readBmcInputs(env: NodeJS.ProcessEnv, caFile: string | undefined): Promise<BmcInputs | undefined> {
  const username = env.EDGEBOX_BMC_USERNAME;
  const password = env.EDGEBOX_BMC_PASSWORD;
  if (username === undefined && password === undefined) {
    if (caFile !== undefined)
      throw inputError(
        'install.bmc-login',
        '--bmc-ca given without the BMC login',
        'set EDGEBOX_BMC_USERNAME and EDGEBOX_BMC_PASSWORD in the shell that runs install',
      );
    return undefined;
  }
  if (!username || !password)
    throw inputError(
      'install.bmc-login',
      `${username ? 'EDGEBOX_BMC_PASSWORD' : 'EDGEBOX_BMC_USERNAME'} is ${(username ? password : username) === undefined ? 'not set' : 'empty'} while ${username ? 'EDGEBOX_BMC_USERNAME' : 'EDGEBOX_BMC_PASSWORD'} is`,
      "set both (the BMC's login, root by default) or neither",
    );
  for (const [name, value] of [
    ['EDGEBOX_BMC_USERNAME', username],
    ['EDGEBOX_BMC_PASSWORD', password],
  ] as const)
    if (/[\n\r\0]/.test(value))
      throw inputError('install.bmc-login', `${name} holds a line break or NUL`, 'a systemd environment file holds one line per variable');
  if (caFile === undefined) return { username, password };
  const ca = await readFile(caFile, 'utf8').catch((e: Error) => {
    throw inputError('install.bmc-ca', `cannot read ${caFile}: ${e.message}`, "pass the BMC's certificate (PEM) with --bmc-ca");
  });
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(ca))
    throw inputError(
      'install.bmc-ca',
      `${caFile} holds no PEM certificate`,
      "pass the BMC's certificate, as `openssl s_client -showcerts -connect turingpi.local:443` prints it",
    );
  return { username, password, ca };
}

/** systemd's EnvironmentFile syntax: double quotes, in which a backslash escapes `"` and `\`. */
const quoted = (v: string) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** The agents' BMC_ENV_PATH. */
export function bmcEnvText(b: BmcInputs): string {
  return [
    '# The Turing Pi BMC login for the edgebox agent (written by edgebox install).',
    `EDGEBOX_BMC_USERNAME=${quoted(b.username)}`,
    `EDGEBOX_BMC_PASSWORD=${quoted(b.password)}`,
    ...(b.ca ? [`NODE_EXTRA_CA_CERTS=${BMC_CA_PATH}`] : []),
    '',
  ].join('\n');
}
