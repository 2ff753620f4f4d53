import { describe, expect, it } from 'vitest';
import { addressKey } from '../../src/base/address.js';

describe('addressKey: one key per host address', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::FFFF:10.0.0.1', '10.0.0.1'],
    ['0:0:0:0:0:ffff:a00:1', '10.0.0.1'],
    ['fd00:0::1', 'fd00::1'],
    ['FD00::0:1', 'fd00::1'],
    ['::1', '::1'],
    // Not IPv4-mapped: ::ffff:0:a.b.c.d (IPv4-translated) and ::a.b.c.d stay IPv6.
    ['::ffff:0:10.0.0.1', '::ffff:0:a00:1'],
    ['::10.0.0.1', '::a00:1'],
    // Not addresses: returned as they are (lowercased), never thrown on.
    ['fe80::1%eth0', 'fe80::1%eth0'],
    ['not an address', 'not an address'],
  ])('%s -> %s', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});
