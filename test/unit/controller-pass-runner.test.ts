import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PassRunner } from '../../src/controller/pass-runner.js';
import { apiClient } from '../../src/kube/api-client.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('PassRunner: one pass at a time, a stalled one given up', () => {
  function runner(stallMs = 30_000) {
    let now = 0;
    const passes: { live: () => boolean; finish: () => void }[] = [];
    const stalls: number[] = [];
    const r = new PassRunner({
      run: (live) =>
        new Promise<void>((finish) => {
          passes.push({ live, finish });
        }),
      leading: () => true,
      mono: () => now,
      stallMs,
      onError: () => {},
      onStall: (ms) => stalls.push(ms),
    });
    return { r, passes, stalls, advance: (ms: number) => (now += ms) };
  }

  it('a kick during a pass asks for one more right after it, not a second one at once', async () => {
    const s = runner();
    s.r.kick();
    s.r.kick();
    s.r.kick();
    expect(s.passes).toHaveLength(1);
    s.passes[0]!.finish();
    await tick();
    await tick();
    expect(s.passes).toHaveLength(2);
  });

  it('a pass hung on a request is given up after the stall bound: it acts no more, and the next pass runs', async () => {
    const s = runner(30_000);
    s.r.kick();
    s.advance(29_999);
    s.r.kick();
    expect(s.passes).toHaveLength(1);
    expect(s.passes[0]!.live()).toBe(true);
    s.advance(1);
    s.r.kick();
    expect(s.stalls).toEqual([30_000]);
    expect(s.passes).toHaveLength(2);
    expect(s.passes[0]!.live()).toBe(false);
    expect(s.passes[1]!.live()).toBe(true);
    // The hung one ends at last: it does not end its successor's turn.
    s.passes[0]!.finish();
    await tick();
    s.r.kick();
    expect(s.passes).toHaveLength(2);
  });
});

describe('apiClient: every controller request has a timeout', () => {
  let server: Server;
  let kc: KubeConfig;
  const start = async () => {
    // An API server that accepts the connection and never answers (one that lost its etcd quorum).
    server = createServer(() => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    kc = new KubeConfig();
    kc.loadFromClusterAndUser({ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }, { name: 'u' });
  };
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('a request to a server that never answers fails after the timeout; without it, it would still be waiting', async () => {
    await start();
    const t0 = performance.now();
    await expect(apiClient(kc, CoreV1Api, 300).listNode()).rejects.toThrow();
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(2000);
    // The control: the plain client is still waiting well past that bound.
    const plain = kc.makeApiClient(CoreV1Api).listNode();
    plain.catch(() => {});
    const settled = await Promise.race([
      plain.then(
        () => 'settled',
        () => 'settled',
      ),
      new Promise((r) => setTimeout(() => r('waiting'), 1000)),
    ]);
    expect(settled).toBe('waiting');
  });
});
