import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { EdgeboxError, failure, inputError, type Diagnostic } from '../diagnostics/diagnostic.js';
import { planBox } from '../plan/plan-box.js';
import type { BoxSpec } from '../spec/schema.js';
import { checkBearer, isLoopback, isLoopbackHostHeader, newToken } from './auth.js';
import { buildView } from './build-view.js';
import { ClusterWatch } from './cluster-watch.js';
import type { LocalBox } from './local-box.js';
import { SseHub } from './sse.js';
import { DEFAULT_WEB_ROOT, readStatic } from './static-files.js';
import type { DashboardView, WatchRecord } from './view.js';
import { whatIf } from './what-if.js';

/** At most one view per this many ms: a failover's burst of watch events becomes a few updates. */
const MIN_UPDATE_INTERVAL_MS = 100;

export interface DashboardOptions {
  box: BoxSpec;
  /** The cluster to watch, with its own credentials. Default: none (spec and what-if only). */
  kc?: KubeConfig;
  /** A local box: enables kill and revive. Default: none. */
  local?: LocalBox;
  /** Loopback address to bind. Default: 127.0.0.1. */
  host?: string;
  /** Default: 0, any free port. */
  port?: number;
  /** The action token. Default: a fresh random one. */
  token?: string;
  /** The built web app. Default: dist/web. */
  webRoot?: string;
}

export interface Dashboard {
  url: string;
  token: string;
  close(): Promise<void>;
}

/**
 * Serves the web app, the JSON API and the live stream (docs/dashboard.md). Everything is
 * read-only except kill and revive, which need `Authorization: Bearer <token>`.
 */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw inputError(
      'dashboard.not-loopback',
      `the dashboard binds loopback addresses only, not ${host}`,
      'use 127.0.0.1 (the default) and reach it from elsewhere through an SSH tunnel: ssh -L 8470:127.0.0.1:8470 <host>',
    );
  }
  const webRoot = opts.webRoot ?? DEFAULT_WEB_ROOT;
  if (
    !(await access(join(webRoot, 'index.html')).then(
      () => true,
      () => false,
    ))
  ) {
    throw failure('dashboard.no-web-app', `the web app is not built (no ${join(webRoot, 'index.html')})`, 'run `npm run build`');
  }
  const token = opts.token ?? newToken();
  const { box, local } = opts;
  const plan = planBox(box);
  const hub = new SseHub();

  let pending: WatchRecord[] = [];
  let timer: NodeJS.Timeout | undefined;
  let lastUpdate = 0;
  let lastShown = '';
  const watch = opts.kc ? new ClusterWatch({ kc: opts.kc, onChange: changed }) : undefined;

  const view = (causes: WatchRecord[] = []): DashboardView => {
    const now = Date.now();
    return buildView({
      box,
      plan,
      ...(watch ? { cluster: watch.snapshot(box.metadata.name) } : {}),
      clusterState: watch ? watch.state() : { state: 'none', message: 'no kubeconfig: showing the spec and its plan only' },
      local: local !== undefined,
      killed: local?.killed() ?? [],
      causes,
      now,
    });
  };

  function changed(r: WatchRecord): void {
    pending.push(r);
    if (timer) return;
    timer = setTimeout(update, Math.max(0, lastUpdate + MIN_UPDATE_INTERVAL_MS - Date.now()));
  }

  function update(): void {
    timer = undefined;
    lastUpdate = Date.now();
    const causes = pending;
    pending = [];
    const v = view(causes);
    // Most watch events (a node Lease renewal) change nothing shown: those send nothing.
    const shown = JSON.stringify({ ...v, at: '', causes: [] });
    if (shown === lastShown) return;
    lastShown = shown;
    hub.broadcast('view', v);
  }

  const app = Fastify({ logger: false });
  app.addHook('onRequest', async (req, reply) => {
    if (!isLoopbackHostHeader(req.headers.host)) {
      return sendError(reply, 403, {
        code: 'dashboard.host',
        severity: 'error',
        message: `refused: Host ${req.headers.host ?? '(none)'} is not a loopback address`,
        hint: `open http://${host}:<port>/`,
      });
    }
  });
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof EdgeboxError) return sendError(reply, err.kind === 'input' ? 400 : 500, err.diagnostics[0]!);
    return sendError(reply, 500, {
      code: 'internal',
      severity: 'error',
      message: err instanceof Error ? err.message : String(err),
      hint: 'this is a bug in edgebox; please report it',
    });
  });

  app.get('/api/view', async () => view());
  app.get('/api/stream', (_req, reply) => {
    reply.hijack();
    hub.add(reply.raw, { event: 'view', data: view() });
  });
  app.get('/api/what-if', async (req: FastifyRequest<{ Querystring: { modules?: string } }>) =>
    whatIf(
      box,
      plan,
      (req.query.modules ?? '')
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean),
    ),
  );
  app.get('/api/watch-log', async (req: FastifyRequest<{ Querystring: { since?: string } }>) => watch?.log(Number(req.query.since ?? 0) || 0) ?? []);
  app.get('/api/auth', async (req, reply) => (authorized(req, reply) ? { authorized: true } : reply));
  app.post('/api/modules/:module/:action', async (req: FastifyRequest<{ Params: { module: string; action: string } }>, reply) => {
    if (!authorized(req, reply)) return reply;
    const { module, action } = req.params;
    if (action !== 'kill' && action !== 'revive') {
      return sendError(reply, 404, {
        code: 'dashboard.unknown-action',
        severity: 'error',
        message: `no action '${action}'`,
        hint: 'the actions are kill and revive',
      });
    }
    if (!local) {
      return sendError(reply, 409, {
        code: 'dashboard.not-local',
        severity: 'error',
        message: 'kill and revive work on a local box only',
        hint: 'start the dashboard with --local-dir <box dir> of a box started by `edgebox local up`',
      });
    }
    if (!box.spec.modules.some((m) => m.name === module)) throw inputError('dashboard.unknown-module', `box '${box.metadata.name}' has no module '${module}'`);
    return action === 'kill' ? local.kill(module) : local.revive(module);
  });
  app.get('/*', async (req, reply) => {
    const file = await readStatic(webRoot, req.url);
    if (!file) return sendError(reply, 404, { code: 'dashboard.not-found', severity: 'error', message: `nothing at ${req.url}` });
    return reply.header('content-type', file.type).header('cache-control', file.cache).send(file.body);
  });

  function authorized(req: FastifyRequest, reply: FastifyReply): boolean {
    const check = checkBearer(req.headers.authorization, token);
    if (check === 'ok') return true;
    const hint = 'pass the token `edgebox dashboard` printed at start: Authorization: Bearer <token> (in the page: open the URL it printed with #token=...)';
    if (check === 'missing') {
      void sendError(reply.header('www-authenticate', 'Bearer realm="edgebox dashboard"'), 401, {
        code: 'dashboard.token-required',
        severity: 'error',
        message: 'this action needs the dashboard token',
        hint,
      });
    } else {
      void sendError(reply, 403, { code: 'dashboard.token-wrong', severity: 'error', message: "the token is not this dashboard's", hint });
    }
    return false;
  }

  const address = await app.listen({ host, port: opts.port ?? 0 });
  watch?.start();
  local?.watch(changed);
  return {
    url: `${address}/`,
    token,
    async close() {
      if (timer) clearTimeout(timer);
      local?.close();
      hub.close();
      await watch?.stop();
      await app.close();
    },
  };
}

function sendError(reply: FastifyReply, status: number, d: Diagnostic): FastifyReply {
  return reply
    .code(status)
    .type('application/json')
    .send({ error: { code: d.code, message: d.message, ...(d.hint ? { hint: d.hint } : {}) } });
}
