import type { ServerResponse } from 'node:http';

/** Comment lines keep idle connections open through proxies and let a dead client be noticed. */
const KEEPALIVE_MS = 15_000;

/** The browsers listening on `GET /api/stream`, as server-sent events. */
export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly keepalive = setInterval(() => this.write(': keepalive\n\n'), KEEPALIVE_MS).unref();

  /** Starts the stream on `res` and sends `first` as its first event. */
  add(res: ServerResponse, first: { event: string; data: unknown }): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Nginx and friends would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    // EventSource reconnects by itself; a second is enough to ride out a dashboard restart.
    res.write('retry: 1000\n\n');
    res.write(frame(first.event, first.data));
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  broadcast(event: string, data: unknown): void {
    this.write(frame(event, data));
  }

  get size(): number {
    return this.clients.size;
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private write(text: string): void {
    for (const c of this.clients) c.write(text);
  }
}

/** One SSE message; JSON has no raw newlines, so the data fits one `data:` line. */
export function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
