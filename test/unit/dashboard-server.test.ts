import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBearer, isLoopback, isLoopbackHostHeader, newToken } from '../../src/dashboard/auth.js';
import { backoffMs } from '../../src/base/backoff.js';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { frame } from '../../src/dashboard/sse.js';
import { readStatic } from '../../src/dashboard/static-files.js';
import type { DashboardView } from '../../src/dashboard/view.js';
import { loadSpec } from '../../src/spec/load.js';

describe('auth', () => {
  const token = newToken();
  it.each([
    ['no Authorization header', 'missing', undefined],
    ['Authorization ""', 'missing', ''],
    ['Authorization "Basic abc"', 'missing', 'Basic abc'],
    ['Authorization "Bearer"', 'missing', 'Bearer'],
    ['Authorization "Bearer wrong"', 'wrong', 'Bearer wrong'],
    ['the token with one character more', 'wrong', `Bearer ${token}x`],
    ['the token', 'ok', `Bearer ${token}`],
    ['the token after a lower-case "bearer"', 'ok', `bearer ${token}`],
  ])('%s is %s', (_what, result, header) => {
    expect(checkBearer(header, token)).toBe(result);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['[::1]', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['192.168.8.11', false],
    ['::', false],
    ['example.com', false],
  ])('%s is loopback: %s', (host, yes) => {
    expect(isLoopback(host)).toBe(yes);
  });

  it.each([
    ['127.0.0.1:8470', true],
    ['localhost:8470', true],
    ['[::1]:8470', true],
    ['127.0.0.1', true],
    ['evil.example:8470', false],
    ['127.0.0.1.evil.example:80', false],
  ])('Host header %j is accepted: %s', (host, yes) => {
    expect(isLoopbackHostHeader(host)).toBe(yes);
  });

  it('a request without a Host header is refused', () => {
    expect(isLoopbackHostHeader(undefined)).toBe(false);
  });

  it('tokens are fresh and URL-safe', () => {
    expect(newToken()).not.toBe(newToken());
    expect(newToken()).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});

describe('plumbing', () => {
  it('retry delay doubles up to its cap', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map((f) => backoffMs(f, { initialMs: 500, maxMs: 10_000 }))).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it('an SSE frame is one event with one data line', () => {
    expect(frame('view', { a: 'x\ny' })).toBe('event: view\ndata: {"a":"x\\ny"}\n\n');
  });
});

describe('the server without a cluster', () => {
  let web: string;
  let dashboard: Dashboard;
  const get = (path: string, init: RequestInit = {}) => fetch(new URL(path, dashboard.url), init);

  beforeAll(async () => {
    web = await mkdtemp(join(tmpdir(), 'edgebox-web-'));
    await mkdir(join(web, 'assets'));
    await writeFile(join(web, 'index.html'), '<!doctype html><title>t</title>');
    await writeFile(join(web, 'assets', 'app-1.js'), 'export {}');
    await writeFile(join(tmpdir(), 'edgebox-secret.txt'), 'secret');
    const { box } = await loadSpec('examples/article-box.yaml');
    dashboard = await startDashboard({ box, webRoot: web, token: 't0ken' });
  });
  afterAll(async () => {
    await dashboard?.close();
    await rm(web, { recursive: true, force: true });
    await rm(join(tmpdir(), 'edgebox-secret.txt'), { force: true });
  });

  it('binds 127.0.0.1 and refuses anything but loopback', async () => {
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const { box } = await loadSpec('examples/article-box.yaml');
    await expect(startDashboard({ box, webRoot: web, host: '0.0.0.0' })).rejects.toThrow(/loopback addresses only/);
  });

  it('serves the view from the spec and the plan alone', async () => {
    const view = (await (await get('api/view')).json()) as DashboardView;
    expect(view.cluster.state).toBe('none');
    expect(view.local).toBe(false);
    expect(view.modules.map((m) => `${m.name}:${m.role}`)).toEqual(['master-1:server', 'jetson-1:server', 'jetson-2:agent', 'motor-1:agent', 'net-1:server']);
    expect(view.workloads.find((w) => w.name === 'detector-a')).toMatchObject({ capable: ['jetson-1', 'jetson-2'], state: 'not-deployed' });
  });

  it('what-if answers, and says what is wrong with a bad choice', async () => {
    const ok = await get('api/what-if?modules=master-1,net-1');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ quorumKept: false, restorable: true });
    const bad = await get('api/what-if?modules=ghost');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'dashboard.unknown-module' } });
  });

  it('actions: 401 without a token, 403 with a wrong one, 409 with the right one outside a local box', async () => {
    const none = await get('api/modules/master-1/kill', { method: 'POST' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await get('api/modules/master-1/kill', { method: 'POST', headers: { authorization: 'Bearer nope' } })).status).toBe(403);
    const right = await get('api/modules/master-1/kill', { method: 'POST', headers: { authorization: 'Bearer t0ken' } });
    expect(right.status).toBe(409);
    expect(await right.json()).toMatchObject({ error: { code: 'dashboard.not-local' } });
  });

  it('streams the view as server-sent events', async () => {
    const controller = new AbortController();
    const res = await get('api/stream', { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n', text.indexOf('event: view'))) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).toMatch(/^retry: 1000\n\nevent: view\ndata: \{"box":"vision-cell"/);
  });

  it('serves the web app and nothing outside it', async () => {
    const index = await get('');
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await get('assets/app-1.js')).headers.get('cache-control')).toMatch(/immutable/);
    expect(await readStatic(web, '/../edgebox-secret.txt')).toBeUndefined();
    expect(await readStatic(web, '/%2e%2e/edgebox-secret.txt')).toBeUndefined();
    expect((await get('nope.html')).status).toBe(404);
  });

  it('refuses a Host that is not loopback (DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((done) => {
      request(new URL('api/view', dashboard.url), { headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        done(res.statusCode ?? 0);
      }).end();
    });
    expect(status).toBe(403);
  });
});
