import { type EdgeboxError, failure } from '../diagnostics/diagnostic.js';

/** Which request failed, so that an error can say what edgebox was doing. */
export interface RequestContext {
  /** The API server URL from the kubeconfig. */
  server: string;
  /** The RBAC verb: get, list, patch, delete. */
  verb: string;
  /** The RBAC resource, e.g. `deployments.apps`. */
  resource: string;
  /** `vision-cell/detector-a`, or undefined for a list. */
  target?: string;
  namespace?: string;
}

// node-fetch's FetchError carries the socket or TLS error's code.
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE']);
const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const TLS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO/;

interface StatusBody {
  message?: string;
  details?: { causes?: { message?: string }[] };
}

/**
 * Turns a failed Kubernetes request into a diagnostic that says what failed and how to fix it,
 * or returns undefined when the error is not one the cluster produced (a bug, rethrown as is).
 */
export function describeRequestError(e: unknown, ctx: RequestContext): EdgeboxError | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (UNREACHABLE.has(code)) {
      return failure(
        'kube.cluster-unreachable',
        `cannot reach the cluster at ${ctx.server}: ${code === 'ECONNREFUSED' ? 'connection refused' : code}`,
        'start it (for a local box: `edgebox local up <spec>`), or point --kubeconfig / KUBECONFIG at the right cluster',
      );
    }
    if (DNS.has(code)) {
      return failure(
        'kube.cluster-unreachable',
        `cannot resolve the host of the cluster at ${ctx.server} (${code})`,
        'check the `server:` address in the kubeconfig, or pass --kubeconfig',
      );
    }
    if (TLS.test(code)) {
      return failure(
        'kube.cluster-tls',
        `TLS handshake with ${ctx.server} failed: ${code}`,
        "the kubeconfig's certificate-authority-data does not match the server's certificate; fetch a fresh kubeconfig from the cluster",
      );
    }
  }
  if (typeof code !== 'number') return undefined;

  const body = statusBody((e as { body?: unknown }).body);
  const what = `${ctx.verb} ${ctx.resource}${ctx.target ? ` ${ctx.target}` : ''}${!ctx.target && ctx.namespace ? ` in namespace ${ctx.namespace}` : ''}`;
  const said = body.message ? `: ${body.message}` : '';
  switch (code) {
    case 401:
      return failure(
        'kube.unauthorized',
        `the cluster at ${ctx.server} did not accept the kubeconfig's credentials (${what})`,
        'the token or client certificate is wrong or expired; fetch a fresh kubeconfig',
      );
    case 403:
      return failure(
        'kube.forbidden',
        `RBAC forbids edgebox to ${ctx.verb} ${ctx.resource}${ctx.target ? ` (${ctx.target})` : ''}${said}`,
        `grant the kubeconfig's user a Role or ClusterRole that allows '${ctx.verb}' on '${ctx.resource}', or use an admin kubeconfig`,
      );
    case 409: {
      const causes = (body.details?.causes ?? []).map((c) => c.message).filter(Boolean);
      return failure(
        'kube.conflict',
        `${what} conflicts with another writer${causes.length ? `: ${causes.join('; ')}` : said}`,
        'the object was not created by edgebox for this box (it lacks the ownership labels), so apply will not take its fields over; delete or rename it, or label it app.kubernetes.io/managed-by=edgebox',
      );
    }
    default:
      return failure(
        'kube.api-error',
        `the API server refused ${what} (HTTP ${code})${said}`,
        code === 422
          ? 'the rendered object is invalid; this is a bug in edgebox, please report it'
          : "see the API server's message; run the command again if it was transient",
      );
  }
}

/** The Status the API server sent: the generated APIs hand it over as JSON text, KubernetesObjectApi parsed. */
function statusBody(body: unknown): StatusBody {
  if (typeof body !== 'string') return (body ?? {}) as StatusBody;
  try {
    return JSON.parse(body) as StatusBody;
  } catch {
    return { message: body };
  }
}
