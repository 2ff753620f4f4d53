import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { powerDrivers } from '../../src/power/drivers.js';
import { TuringPiBmcDriver } from '../../src/power/turingpi-bmc.js';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';

/**
 * The BMC driver against a small HTTP server on 127.0.0.1 that answers as bmcd 2.x does
 * (docs.turingpi.com BMC API; bmcd's legacy API): the exact requests are recorded and checked.
 */
interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization?: string;
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
/** Slot power as the fake board holds it ("1" on). */
let power: Record<string, string>;
let tokens: Set<string>;
let nextStatus: number | undefined;

async function read(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

const reply = (res: import('node:http').ServerResponse, status: number, result: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ response: [{ result }] }));
};

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const body = await read(req);
    seen.push({
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      body,
    });
    if (url.pathname === '/api/bmc/authenticate' && req.method === 'POST') {
      const { username, password } = JSON.parse(body) as { username: string; password: string };
      if (username !== 'root' || password !== 'turing') {
        res.writeHead(403);
        res.end('credentials incorrect');
        return;
      }
      const token = `tok${tokens.size + 1}`;
      tokens.add(token);
      res.writeHead(200, { 'x-auth-token': token, 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: token, expires: 3600 }));
      return;
    }
    if (url.pathname !== '/api/bmc') return reply(res, 404, 'not found');
    if (!tokens.has((req.headers.authorization ?? '').replace(/^Bearer /, ''))) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="bmcd"' });
      res.end('unauthorized');
      return;
    }
    if (nextStatus) {
      const status = nextStatus;
      nextStatus = undefined;
      return reply(res, status, 'Failed to set power state: i2c error');
    }
    const q = url.searchParams;
    if (q.get('opt') === 'get' && q.get('type') === 'power') return reply(res, 200, [power]);
    if (q.get('opt') === 'set' && q.get('type') === 'power') {
      for (const [k, v] of q) if (/^node[1-4]$/.test(k)) power[k] = v;
      return reply(res, 200, 'ok');
    }
    return reply(res, 400, `Invalid \`type\` parameter ${q.get('type')}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  seen.length = 0;
  power = { node1: '1', node2: '1', node3: '1', node4: '1' };
  tokens = new Set();
  nextStatus = undefined;
});

const driver = (o: Partial<ConstructorParameters<typeof TuringPiBmcDriver>[0]> = {}) =>
  new TuringPiBmcDriver({ endpoint: base, credentials: { username: 'root', password: 'turing' }, ...o });

describe('turingpi-bmc power driver', () => {
  it('logs in once, then powers the slot off with node<slot>=0 (slots count from 1)', async () => {
    const d = driver();
    await d.powerOff('rk1-c', 3);
    expect(seen).toEqual([
      { method: 'POST', path: '/api/bmc/authenticate', query: {}, body: JSON.stringify({ username: 'root', password: 'turing' }) },
      { method: 'GET', path: '/api/bmc', query: { opt: 'set', type: 'power', node3: '0' }, authorization: 'Bearer tok1', body: '' },
    ]);
    expect(power).toEqual({ node1: '1', node2: '1', node3: '0', node4: '1' });
  });

  it("reads the slot's state from opt=get&type=power, reusing the session", async () => {
    const d = driver();
    expect(await d.state('rk1-a', 1)).toBe('on');
    await d.powerOff('rk1-a', 1);
    expect(await d.state('rk1-a', 1)).toBe('off');
    expect(await d.state('rk1-b', 2)).toBe('on');
    expect(seen.filter((s) => s.path === '/api/bmc/authenticate')).toHaveLength(1);
    expect(seen.filter((s) => s.query.type === 'power' && s.query.opt === 'get')).toHaveLength(3);
  });

  it('opens a new session once when the token has expired', async () => {
    const d = driver();
    await d.state('rk1-a', 1);
    tokens.clear();
    expect(await d.state('rk1-a', 1)).toBe('on');
    expect(seen.map((s) => `${s.method} ${s.path} ${s.authorization ?? ''}`)).toEqual([
      'POST /api/bmc/authenticate ',
      'GET /api/bmc Bearer tok1',
      'GET /api/bmc Bearer tok1',
      'POST /api/bmc/authenticate ',
      'GET /api/bmc Bearer tok1',
    ]);
  });

  it.each([
    ['"Unknown"', 'Unknown', 'unknown'],
    ['1.x numbers', 0, 'off'],
  ])('a state reported as %s', async (_what, value, expected) => {
    power.node2 = value as string;
    expect(await driver().state('m', 2)).toBe(expected);
  });

  it('wrong credentials: a login diagnostic', async () => {
    const e = await driver({ credentials: { username: 'root', password: 'nope' } })
      .powerOff('m', 1)
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EdgeboxError);
    expect((e as EdgeboxError).diagnostics[0]).toMatchObject({ code: 'controller.bmc-login-failed' });
    expect(power.node1).toBe('1');
  });

  it("an error answer carries the BMC's message", async () => {
    nextStatus = 500;
    const e = (await driver()
      .powerOff('m', 4)
      .catch((x: unknown) => x)) as EdgeboxError;
    expect(e.diagnostics[0]).toMatchObject({ code: 'controller.bmc-request-failed' });
    expect(e.diagnostics[0]!.message).toContain('i2c error');
  });

  it.each([0, 5])('slot %i does not exist on a Turing Pi 2: nothing is sent', async (slot) => {
    const e = (await driver()
      .powerOff('m', slot)
      .catch((x: unknown) => x)) as EdgeboxError;
    expect(e.diagnostics[0]).toMatchObject({ code: 'controller.bmc-bad-slot' });
    expect(seen.filter((s) => s.path === '/api/bmc')).toHaveLength(0);
  });

  it('an unreachable BMC: a diagnostic naming the endpoint', async () => {
    const closed = new TuringPiBmcDriver({ endpoint: 'http://127.0.0.1:1', timeoutMs: 1000 });
    const e = (await closed.state('m', 1).catch((x: unknown) => x)) as EdgeboxError;
    expect(e.diagnostics[0]).toMatchObject({ code: 'controller.bmc-unreachable' });
    expect(e.diagnostics[0]!.message).toContain('http://127.0.0.1:1');
  });
});

describe('power drivers of a box', () => {
  it('gives the modules of one board one BMC driver, whatever the spelling of its URL', async () => {
    const a = { driver: 'turingpi-bmc' as const, slot: 1 };
    const b = { driver: 'turingpi-bmc' as const, slot: 2, endpoint: 'https://turingpi.local/' };
    const c = { driver: 'turingpi-bmc' as const, slot: 1, endpoint: 'https://bmc-2' };
    const driverOf = (await powerDrivers([a, b, c], {}))!;
    expect(driverOf(a)).toBeInstanceOf(TuringPiBmcDriver);
    expect(driverOf(b)).toBe(driverOf(a));
    expect(driverOf(c)).not.toBe(driverOf(a));
  });
});
