import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** A fresh action token: 192 random bits, URL-safe so it can ride in the page's #fragment. */
export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

export type BearerCheck = 'ok' | 'missing' | 'wrong';

/** Checks an Authorization header against the token, in constant time. */
export function checkBearer(header: string | undefined, token: string): BearerCheck {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return 'missing';
  const given = Buffer.from(m[1]!);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want) ? 'ok' : 'wrong';
}

/** 127.0.0.0/8, ::1 and `localhost`: the only addresses the dashboard binds. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return isIP(h) === 6 && (h === '::1' || h === '0:0:0:0:0:0:0:1');
}

/**
 * Whether a request's Host header names a loopback address. A page on another site may point a
 * DNS name of its own at 127.0.0.1 (DNS rebinding) and read the API: its requests carry that
 * name, so they are refused.
 */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host);
  return m !== null && isLoopback(m[1]!);
}
