import { isIPv4, isIPv6 } from 'node:net';

// `::ffff:a.b.c.d` as WHATWG URL canonicalizes it: the IPv4 part in two hex groups.
const V4_MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * One key per host address, so that every spelling of one address compares equal: IPv6 in its
 * canonical form (`fd00:0::1` is `fd00::1`) and an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`,
 * how a dual-stack socket reports an IPv4 peer) as the IPv4 address it maps. Anything that is not
 * an IP address is returned lowercased, never thrown on: callers validate addresses elsewhere.
 */
export function addressKey(address: string): string {
  const lower = address.toLowerCase();
  if (isIPv4(lower) || !isIPv6(lower) || lower.includes('%')) return lower;
  const canonical = new URL(`http://[${lower}]/`).hostname.slice(1, -1);
  const mapped = V4_MAPPED.exec(canonical);
  if (!mapped) return canonical;
  const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}
