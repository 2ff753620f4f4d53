import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/agent/heartbeat/http-endpoint.js';
import { startMetricsEndpoint } from '../../src/agent/heartbeat/metrics-endpoint.js';
import { authorized, metricsToken } from '../../src/agent/heartbeat/metrics-token.js';

const SECRET = Buffer.from('a'.repeat(64));
const TOKEN = metricsToken(SECRET);

describe('the agents scrape token', () => {
  it('is derived from the box secret: the same secret gives the same token, another secret another', () => {
    expect(metricsToken(Buffer.from('a'.repeat(64)))).toBe(TOKEN);
    expect(metricsToken(Buffer.from('b'.repeat(64)))).not.toBe(TOKEN);
    expect(TOKEN).toMatch(/^[0-9a-f]{64}$/);
    expect(TOKEN).not.toContain(SECRET.toString());
  });

  it.each([
    [`Bearer ${TOKEN}`, true],
    [`bearer ${TOKEN}`, true],
    [`Bearer ${TOKEN.slice(0, -1)}0`, TOKEN.endsWith('0')],
    [`Bearer ${TOKEN}x`, false],
    [TOKEN, false],
    [`Basic ${TOKEN}`, false],
    [undefined, false],
  ])('Authorization %s -> %s', (header, ok) => {
    expect(authorized(header, TOKEN)).toBe(ok);
  });
});

describe('GET /metrics on the module address', () => {
  let endpoint: Endpoint;
  const url = () => `http://127.0.0.1:${endpoint.port}`;
  beforeAll(async () => {
    endpoint = await startMetricsEndpoint({ address: '127.0.0.1', port: 0, token: TOKEN, metrics: () => 'edgebox_agent_heartbeats_sent_total 3\n' });
  });
  afterAll(() => endpoint.close());

  it('answers the scrape token with the metrics', async () => {
    const res = await fetch(`${url()}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('edgebox_agent_heartbeats_sent_total 3\n');
  });

  it.each([[{}], [{ authorization: 'Bearer wrong' }]])('refuses a scrape without the token (%j)', async (headers) => {
    const res = await fetch(`${url()}/metrics`, { headers });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('edgebox_agent');
  });

  it('serves nothing else there: the health, peers and grant routes stay on the host', async () => {
    const res = await fetch(`${url()}/peers`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(404);
  });
});
