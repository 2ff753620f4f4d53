import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiResponse } from '../../src/agent/api/client.js';
import { GrantService } from '../../src/agent/grant/service.js';
import { logUnhandledRejections } from '../../src/base/unhandled.js';
import { DEFAULT_PERIPHERAL_TIMINGS as T } from '../../src/contract/peripherals.js';

/** An API that holds m1's ownership Lease of `bus` and takes every renewal. */
const api = {
  lease: {
    metadata: { name: 'peripheral-bus', namespace: 'edgebox-system', resourceVersion: '1', annotations: {} },
    spec: { holderIdentity: 'm1', leaseTransitions: 4, leaseDurationSeconds: T.leaseSeconds, renewTime: new Date().toISOString() },
  } as Record<string, unknown>,
  up: true,
  async request(method: string, _path: string, body?: unknown): Promise<ApiResponse> {
    if (!this.up) throw new Error('ECONNREFUSED');
    if (method !== 'GET') this.lease = structuredClone(body) as Record<string, unknown>;
    return { status: 200, body: structuredClone(this.lease) };
  },
};

const servers: Server[] = [];
const services: GrantService[] = [];
afterEach(async () => {
  api.up = true;
  for (const s of services.splice(0)) s.stop();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** The grant API of m1 over HTTP, with a history that fails while `full()` says so. */
async function service(full: () => boolean) {
  const logs: { level: string; msg: string }[] = [];
  const history: unknown[] = [];
  const svc = new GrantService({
    module: 'm1',
    peripherals: [{ name: 'bus', kind: 'can', device: 'can0' }] as never,
    client: api,
    timings: T,
    history: (r) => {
      if (full()) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      history.push(r);
    },
    runDevice: () => Promise.resolve(),
    log: (level, msg) => logs.push({ level, msg }),
    mono: () => performance.now(),
    wall: () => Date.now(),
  });
  services.push(svc);
  svc.start();
  const server = createServer((req, res) => {
    if (!svc.handle(req, res)) res.writeHead(404).end();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/peripherals/bus`;
  const grant = async () => {
    const res = await fetch(`${url}/grant`, { method: 'POST', body: '{}' });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  // The owner's first renewal makes it the holder.
  await new Promise((r) => setTimeout(r, 50));
  return { grant, logs, history };
}

describe('the grant service when the history cannot be written', () => {
  it('refuses a grant it cannot record, with the reason, and grants again once the disk has room', async () => {
    let full = true;
    const s = await service(() => full);
    const refused = await s.grant();
    expect(refused).toEqual({ status: 503, body: { refused: 'history-unwritable', error: 'ENOSPC: no space left on device, write', module: 'm1' } });
    expect(s.logs.some((l) => l.level === 'error' && l.msg === 'cannot write the peripheral history')).toBe(true);
    full = false;
    const granted = await s.grant();
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ peripheral: 'bus', module: 'm1', token: 4 });
    expect(s.history).toContainEqual(expect.objectContaining({ kind: 'grant', token: 4 }));
  });

  it('keeps serving after a failed write: the next requests are answered', async () => {
    const s = await service(() => true);
    for (let i = 0; i < 3; i++) expect((await s.grant()).status).toBe(503);
  });
});

describe('the lapse of a grant when the history cannot be written', () => {
  it('the lease lapses (the API gone) on a full disk: granting stops, the failed write is logged, nothing is thrown', async () => {
    let full = false;
    const s = await service(() => full);
    expect((await s.grant()).status).toBe(200);
    full = true;
    api.up = false;
    // The last renewal went out at most renewMs ago; the grant ends lease - margin after it.
    await new Promise((r) => setTimeout(r, T.leaseSeconds * 1000 - T.grantMarginMs + T.renewMs));
    expect((await s.grant()).body).toMatchObject({ refused: 'not-owner' });
    expect(s.logs.filter((l) => l.msg === 'cannot write the peripheral history').length).toBeGreaterThan(0);
  });
});

describe('the last resort for unhandled rejections', () => {
  it('logs an unhandled rejection and the process goes on', async () => {
    const logs: { level: string; msg: string; error?: unknown }[] = [];
    const off = logUnhandledRejections((level, msg, f) => logs.push({ level, msg, ...f }), 'agent');
    try {
      void Promise.reject(new Error('EIO: i/o error, write'));
      await new Promise((r) => setTimeout(r, 20));
      expect(logs).toContainEqual(
        expect.objectContaining({ level: 'error', msg: 'unhandled rejection: logged, the agent goes on', error: 'EIO: i/o error, write' }),
      );
    } finally {
      off();
    }
  });
});
