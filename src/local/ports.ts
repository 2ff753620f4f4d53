import { createServer, type Server } from 'node:net';

/** Loopback only: the local box never listens beyond 127.0.0.1. */
export const LOOPBACK = '127.0.0.1';

/**
 * `count` distinct free TCP ports on 127.0.0.1, held open together while choosing so they
 * differ from each other; another process could still take one before the component binds it,
 * which the component's start-up check then reports.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, LOOPBACK, () => resolve(s));
  })));
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
