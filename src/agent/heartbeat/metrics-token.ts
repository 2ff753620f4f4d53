import { createHmac, timingSafeEqual } from 'node:crypto';

/** What the box secret signs to make the scrape token: a token for nothing else. */
const PURPOSE = 'edgebox agent metrics v1';

/**
 * The bearer token Prometheus presents to an agent's /metrics on the module address: an HMAC of
 * a fixed purpose under the box secret. Every agent can check it without the API server (metrics
 * matter most while the API is down), and it reveals nothing of the secret, which signs the
 * heartbeats (docs/decisions/0012-packaging-and-metrics.md).
 */
export function metricsToken(secret: Buffer): string {
  return createHmac('sha256', secret).update(PURPOSE).digest('hex');
}

/** True when an Authorization header carries the box's scrape token; compared in constant time. */
export function authorized(header: string | undefined, token: string): boolean {
  const presented = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
