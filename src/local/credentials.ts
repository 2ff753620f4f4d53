import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { boxPki } from './server-layout.js';

/**
 * The box's credentials: a static admin bearer token in group system:masters (kube-apiserver
 * --token-auth-file), used by the user and by every component, the service-account signing key
 * pair (node:crypto), and the box CA with the API servers' serving certificate (box-ca.ts).
 */
export interface BoxFiles {
  tokenFile: string;
  serviceAccountKey: string;
  /** The box CA: what the kubeconfig and the components trust. */
  caFile: string;
  kubeconfig: string;
  kwokConfig: string;
  /** KWOK reads ~/.kwok/kwok.yaml before its --config: it gets a HOME of its own. */
  kwokHome: string;
}

export function boxFiles(dir: string): BoxFiles {
  const pki = boxPki(dir);
  return {
    tokenFile: pki.tokenFile,
    serviceAccountKey: pki.serviceAccountKey,
    caFile: pki.ca,
    kubeconfig: join(dir, 'kubeconfig'),
    kwokConfig: join(dir, 'kwok.yaml'),
    kwokHome: join(dir, 'kwok-home'),
  };
}

const ADMIN_USER = 'edgebox-admin';

export async function writeCredentials(files: BoxFiles): Promise<string> {
  const token = randomBytes(32).toString('hex');
  // token,user,uid,"group1,group2"
  await writeFile(files.tokenFile, `${token},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`, { mode: 0o600 });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(files.serviceAccountKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return token;
}

/** The admin token `writeCredentials` made, for the health checks of a component restarted later. */
export async function readToken(files: BoxFiles): Promise<string> {
  return (await readFile(files.tokenFile, 'utf8')).split(',')[0] ?? '';
}

export interface KubeconfigOptions {
  box: string;
  server: string;
  token: string;
  /** The user's name in the file. Default: the box admin. */
  user?: string;
}

/** A token kubeconfig for the box's API address that trusts the box CA, mode 0600: the admin's (`up`) or an agent's (agent-identity.ts). */
export async function writeKubeconfig(files: BoxFiles, path: string, opts: KubeconfigOptions): Promise<void> {
  const ca = await readFile(files.caFile);
  const name = `edgebox-${opts.box}`;
  const user = opts.user ?? ADMIN_USER;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: opts.server, 'certificate-authority-data': ca.toString('base64') } }],
    users: [{ name: user, user: { token: opts.token } }],
    contexts: [{ name, context: { cluster: name, user } }],
    'current-context': name,
  };
  await writeFile(path, stringify(config), { mode: 0o600 });
}
