import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';

/** Loopback only: the local box never listens beyond 127.0.0.1. */
export const LOOPBACK = '127.0.0.1';

/**
 * `count` distinct free TCP ports on 127.0.0.1, held open together while choosing so they
 * differ from each other; another process could still take one before the component binds it,
 * which the component's start-up check then reports.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, LOOPBACK, () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/**
 * A UDP port free on every one of `addresses` (the agents of a box share one port, each on its
 * own 127.0.1.N): the kernel picks one free on the first address, the others are tried on it,
 * and another is picked if one of them is taken (by another box's agents, say).
 */
export async function freeUdpPortOn(addresses: readonly string[]): Promise<number> {
  const bind = (address: string, port: number) =>
    new Promise<Socket | undefined>((done) => {
      const s = createSocket('udp4');
      s.once('error', () => done(undefined));
      s.bind(port, address, () => done(s));
    });
  const [first, ...rest] = addresses;
  for (let attempt = 0; attempt < 20 && first !== undefined; attempt++) {
    const s0 = await bind(first, 0);
    if (!s0) break;
    const port = s0.address().port;
    const others = await Promise.all(rest.map((a) => bind(a, port)));
    for (const s of [s0, ...others]) s?.close();
    if (others.every((s) => s !== undefined)) return port;
  }
  throw new Error(`no UDP port is free on every one of ${addresses.join(', ')}`);
}

/**
 * `count` distinct TCP ports free on every one of `addresses`: each module's etcd and API server
 * use the same ports on its own 127.0.1.N, so a module promoted later finds them free too.
 */
export async function freeTcpPortsOn(addresses: readonly string[], count: number): Promise<number[]> {
  const bind = (address: string, port: number) =>
    new Promise<Server | undefined>((done) => {
      const s = createServer();
      s.once('error', () => done(undefined));
      s.listen(port, address, () => done(s));
    });
  const chosen: number[] = [];
  for (let attempt = 0; attempt < 50 && chosen.length < count; attempt++) {
    const [candidate] = await freePorts(1);
    if (chosen.includes(candidate!)) continue;
    const held = await Promise.all(addresses.map((a) => bind(a, candidate!)));
    await Promise.all(held.map((s) => (s ? new Promise((r) => s.close(r)) : undefined)));
    if (held.every((s) => s !== undefined)) chosen.push(candidate!);
  }
  if (chosen.length < count) throw new Error(`no ${count} TCP ports are free on every one of ${addresses.join(', ')}`);
  return chosen;
}
