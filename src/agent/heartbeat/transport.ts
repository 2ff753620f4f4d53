import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { failure } from '../../diagnostics/diagnostic.js';

export interface TransportOptions {
  /** The module's own address: binding to it (not 0.0.0.0) makes the source address of what it sends the one peers check. */
  address: string;
  port: number;
  onDatagram: (datagram: Buffer, sourceAddress: string) => void;
  onError: (error: Error) => void;
}

export interface Transport {
  send(datagram: Buffer, address: string, port: number): void;
  close(): Promise<void>;
}

/** Binds the heartbeat socket; fails with a diagnostic when the address or port cannot be had. */
export async function openTransport(opts: TransportOptions): Promise<Transport> {
  const socket: Socket = createSocket({ type: isIPv6(opts.address) ? 'udp6' : 'udp4' });
  await new Promise<void>((bound, fail) => {
    socket.once('error', (e: NodeJS.ErrnoException) => {
      const hint =
        e.code === 'EADDRINUSE'
          ? `another process holds UDP ${opts.address}:${opts.port}; stop it (another agent of this module?) or pass --port`
          : e.code === 'EADDRNOTAVAIL'
            ? `${opts.address} is not an address of this host; pass --address, or fix the module's address in the spec`
            : 'check the address and port';
      fail(failure('agent.bind-failed', `cannot bind the heartbeat socket to ${opts.address}:${opts.port}: ${e.code ?? e.message}`, hint));
    });
    socket.bind({ address: opts.address, port: opts.port, exclusive: true }, () => bound());
  });
  socket.removeAllListeners('error');
  socket.on('error', opts.onError);
  socket.on('message', (msg, rinfo) => opts.onDatagram(msg, rinfo.address));
  return {
    send(datagram, address, port) {
      // A peer that is down makes no error here worth more than a count: UDP is fire and forget.
      socket.send(datagram, port, address, (e) => {
        if (e) opts.onError(e);
      });
    },
    close: () => new Promise<void>((closed) => socket.close(() => closed())),
  };
}
