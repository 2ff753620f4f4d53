import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { inputError } from '../../diagnostics/diagnostic.js';

/**
 * The part of a kubeconfig the agent needs to reach the API server, read without the client
 * library (which alone costs the agent its whole memory budget). Supports what K3s and the local
 * box write (server + CA + bearer token or client certificate and key, inline `-data` or as
 * files) and `insecure-skip-tls-verify`; exec and auth-provider plugins are refused.
 */
export interface ApiTarget {
  /** `https://host:port`, with any path prefix the kubeconfig's server has. */
  server: string;
  /**
   * Other API servers of the box, tried in turn when `server` gives no answer (`agent run
   * --api-servers`): a module's role changes at run time, and the server a kubeconfig names may be
   * the one that died, was demoted, or is frozen by its own self-fence.
   */
  fallbackServers?: string[];
  /** PEM; absent: the system's CAs. */
  ca?: Buffer;
  insecureSkipTlsVerify: boolean;
  /** SNI and certificate name to check, when the kubeconfig sets `tls-server-name`. */
  tlsServerName?: string;
  /** Bearer token (re-read from `tokenFile` when given, as kubectl does, so rotations apply). */
  token?: string;
  tokenFile?: string;
  cert?: Buffer;
  key?: Buffer;
}

type Named<T> = { name?: unknown } & T;
interface RawConfig {
  'current-context'?: unknown;
  contexts?: Named<{ context?: { cluster?: unknown; user?: unknown } }>[];
  clusters?: Named<{ cluster?: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
}

const bad = (path: string, what: string) =>
  inputError(
    'agent.bad-kubeconfig',
    `the kubeconfig ${path} ${what}`,
    'pass --kubeconfig a kubeconfig with a current context whose cluster has a server and whose user has a token or a client certificate and key',
  );

/** `context`: --context, a context other than the kubeconfig's current one. */
export async function readApiTarget(path: string, context?: string): Promise<ApiTarget> {
  let raw: RawConfig;
  try {
    raw = (parse(await readFile(path, 'utf8')) ?? {}) as RawConfig;
  } catch (e) {
    throw inputError(
      'agent.bad-kubeconfig',
      `cannot read the kubeconfig ${path}: ${(e as Error).message}`,
      "pass --kubeconfig the API server's kubeconfig (on a K3s server: /etc/rancher/k3s/k3s.yaml)",
    );
  }
  const current = context ?? raw['current-context'];
  const ctx = raw.contexts?.find((c) => c.name === current)?.context;
  if (!ctx) throw bad(path, `has no ${context === undefined ? 'current ' : ''}context${typeof current === 'string' ? ` named '${current}'` : ''}`);
  const cluster = raw.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== 'string') throw bad(path, `has no cluster '${String(ctx.cluster)}' with a server`);
  const user = raw.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec || user['auth-provider']) throw bad(path, 'uses an exec or auth-provider plugin, which the agent does not run');

  const base = dirname(resolve(path));
  const str = (o: Record<string, unknown>, k: string) => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined);
  // `x-data` is base64 PEM inline; `x` is a file path, relative to the kubeconfig's directory.
  const pem = async (o: Record<string, unknown>, k: string): Promise<Buffer | undefined> => {
    const data = str(o, `${k}-data`);
    if (data) return Buffer.from(data, 'base64');
    const file = str(o, k);
    if (!file) return undefined;
    try {
      return await readFile(isAbsolute(file) ? file : resolve(base, file));
    } catch (e) {
      throw bad(path, `names ${k} ${file}, which cannot be read: ${(e as Error).message}`);
    }
  };

  const target: ApiTarget = {
    server: cluster.server.replace(/\/+$/, ''),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
  };
  const ca = await pem(cluster, 'certificate-authority');
  if (ca) target.ca = ca;
  const sni = str(cluster, 'tls-server-name');
  if (sni) target.tlsServerName = sni;
  const token = str(user, 'token');
  if (token) target.token = token;
  const tokenFile = str(user, 'tokenFile');
  if (tokenFile) target.tokenFile = isAbsolute(tokenFile) ? tokenFile : resolve(base, tokenFile);
  const cert = await pem(user, 'client-certificate');
  const key = await pem(user, 'client-key');
  if (cert && key) {
    target.cert = cert;
    target.key = key;
  } else if (cert || key) {
    throw bad(path, 'has a client certificate without its key, or a key without its certificate');
  }
  if (!target.token && !target.tokenFile && !target.cert) throw bad(path, `has no credentials for user '${String(ctx.user)}'`);
  return target;
}
