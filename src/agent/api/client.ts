import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { type EdgeboxError, failure, inputError } from '../../diagnostics/diagnostic.js';
import type { ApiTarget } from './kubeconfig.js';

export interface ApiResponse {
  status: number;
  /** Parsed JSON, or the raw text when the server sent something else. */
  body: unknown;
}

export interface ApiClientOptions {
  /** Per request, from sending to the whole response. Default 2500 ms (under a 3 s agent Lease). */
  timeoutMs?: number;
  /**
   * Local address of the connection: the module's own (`agent run --address`), so the API server
   * and a firewall see which module is talking (a local box cuts a module off the API by it).
   * Default: whatever the routing table picks.
   */
  localAddress?: string;
  /**
   * A Unix socket to send the requests through instead of the server's address (TLS and the
   * server's name unchanged): the local box's simulated container runtime reaches the API over
   * the host's own socket, which no network fault touches, as a real runtime answers locally.
   */
  socketPath?: string;
}

/**
 * Accept headers for an object's or a list's metadata only (PartialObjectMetadata), else plain
 * JSON. Two, because the API server answers 406 to the object form on a list.
 */
export const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
export const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

/** A response larger than this is not one of the small objects the agent reads. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * Minimal Kubernetes API client over node:https: one kept-alive connection (a TLS handshake per
 * second would cost the agent more CPU than everything else it does), JSON in and out. Statuses
 * are returned, not thrown; only a request that got no answer throws (`agent.api-unreachable`).
 */
export class ApiClient {
  private readonly agent: Agent;
  /** The kubeconfig's server first, then the fallbacks; `current` is the one in use. */
  private readonly urls: URL[];
  private current = 0;
  private readonly timeoutMs: number;
  private readonly localAddress: string | undefined;
  private readonly socketPath: string | undefined;

  constructor(
    private readonly target: ApiTarget,
    opts: ApiClientOptions = {},
  ) {
    const servers = [...new Set([target.server, ...(target.fallbackServers ?? [])].map((s) => s.replace(/\/+$/, '')))];
    this.urls = servers.map((s) => new URL(s));
    const plain = this.urls.find((u) => u.protocol !== 'https:');
    if (plain) {
      throw inputError(
        'agent.bad-kubeconfig',
        `the API server ${plain.href} is not https`,
        "the agent talks to the API server over HTTPS only; fix the kubeconfig's server or --api-servers",
      );
    }
    this.timeoutMs = opts.timeoutMs ?? 2500;
    this.localAddress = opts.localAddress;
    this.socketPath = opts.socketPath;
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 1,
      rejectUnauthorized: !target.insecureSkipTlsVerify,
      ...(target.ca ? { ca: target.ca } : {}),
      ...(target.cert && target.key ? { cert: target.cert, key: target.key } : {}),
      ...(target.tlsServerName ? { servername: target.tlsServerName } : {}),
    });
  }

  /** The API server in use: the kubeconfig's until it gives no answer, then the next one. */
  get server(): string {
    return this.urls[this.current]!.origin + this.urls[this.current]!.pathname.replace(/\/+$/, '');
  }

  /**
   * `accept` overrides the Accept header, e.g. METADATA_ONLY for a read that needs only labels and
   * annotations (a Node's status is most of its size, and parsing it every second costs CPU).
   */
  async request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, accept = 'application/json'): Promise<ApiResponse> {
    const token = this.target.tokenFile ? (await readFile(this.target.tokenFile, 'utf8')).trim() : this.target.token;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string | number> = { Accept: accept, 'User-Agent': 'edgebox-agent' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const what = `${method} ${path}`;
    const url = this.urls[this.current]!;
    const server = this.server;
    // A request that gets no answer moves the next one to the next server; the caller retries as it
    // would for one server, so a dead server costs one timeout, not one per request.
    const unanswered = (e: Error) => {
      if (this.urls[this.current] === url) this.current = (this.current + 1) % this.urls.length;
      return unreachable(server, what, e);
    };
    return new Promise<ApiResponse>((done, fail) => {
      const req = request(
        {
          agent: this.agent,
          protocol: 'https:',
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || 443,
          path: `${url.pathname.replace(/\/+$/, '')}${path}`,
          method,
          headers,
          timeout: this.timeoutMs,
          ...(this.localAddress ? { localAddress: this.localAddress } : {}),
          ...(this.socketPath ? { socketPath: this.socketPath } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY_BYTES) req.destroy(new Error(`response larger than ${MAX_BODY_BYTES} bytes`));
            else chunks.push(c);
          });
          res.on('error', (e) => fail(unanswered(e)));
          res.on('end', () => {
            if (res.statusCode === 503) {
              // Not ready (a K3s server whose member is a learner, or without quorum): this
              // connection is not used again, as one that got no answer; a TCP proxy or the API
              // address may send the next one to a server that is ready, and the next request
              // goes to the next server of the list.
              res.socket?.destroy();
              if (this.urls[this.current] === url) this.current = (this.current + 1) % this.urls.length;
            }
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // Not JSON (a proxy's error page): kept as text for the message.
            }
            done({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      // The socket timeout only covers idle time; the overall deadline bounds a trickling answer too.
      const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      deadline.unref();
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (e) => fail(unanswered(e)));
      req.on('close', () => clearTimeout(deadline));
      req.end(payload);
    });
  }

  /** Closes the kept-alive connection so the process can exit. */
  close(): void {
    this.agent.destroy();
  }
}

function unreachable(server: string, what: string, e: Error): EdgeboxError {
  const code = (e as NodeJS.ErrnoException).code;
  return failure(
    'agent.api-unreachable',
    `${what} on ${server} got no answer: ${code ? `${code} ` : ''}${e.message}`,
    'the agent keeps heartbeating and retries; check that the API server in the kubeconfig is up and reachable from this module',
  );
}

/** A response the caller did not expect, as a diagnostic with the API server's own message. */
export function apiError(res: ApiResponse, what: string, server: string): EdgeboxError {
  const message = (res.body as { message?: unknown } | undefined)?.message;
  const said = typeof message === 'string' ? `: ${message}` : '';
  const hint =
    res.status === 401
      ? "the kubeconfig's token or client certificate is not accepted; fetch a fresh one"
      : res.status === 403
        ? "use this module's own kubeconfig (ServiceAccount edgebox-agent-<module>) and apply manifests/31-edgebox-agent.yaml; the API's message says whether RBAC or the policy edgebox-agents refused (docs/agent.md, Permissions)"
        : "see the API server's message; the agent retries";
  return failure(
    `agent.api-${res.status === 401 ? 'unauthorized' : res.status === 403 ? 'forbidden' : 'error'}`,
    `${what} on ${server} failed with HTTP ${res.status}${said}`,
    hint,
  );
}

export interface UpdateOptions {
  /** Reads before giving up when another writer keeps winning. Default 3. */
  attempts?: number;
}

/**
 * Read-modify-write with optimistic concurrency: PUT `mutate(current)` carrying the
 * resourceVersion just read; on 409 Conflict another writer came first, so read again and
 * retry. Returns the final response (the caller handles 404 and other statuses).
 */
export async function updateWithRetry(
  client: Pick<ApiClient, 'request'>,
  path: string,
  mutate: (current: Record<string, unknown>) => Record<string, unknown>,
  opts: UpdateOptions = {},
): Promise<ApiResponse> {
  const attempts = opts.attempts ?? 3;
  let res: ApiResponse = { status: 0, body: undefined };
  for (let i = 0; i < attempts; i++) {
    const current = await client.request('GET', path);
    if (current.status !== 200) return current;
    res = await client.request('PUT', path, mutate(current.body as Record<string, unknown>));
    if (res.status !== 409) return res;
  }
  return res;
}
