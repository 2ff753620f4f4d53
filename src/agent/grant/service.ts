import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PeripheralTimings } from '../../contract/peripherals.js';
import type { ApiClient } from '../api/client.js';
import type { Log } from '../../base/log.js';
import { decideGrant } from './decide.js';
import { deviceCommands, describeCommand, type AgentPeripheral, type DeviceRunner } from './device.js';
import type { Append } from './history-file.js';
import { PeripheralOwner } from './owner.js';

/**
 * The agent's local grant API (docs/decisions/0003-peripherals.md), served beside /healthz:
 *
 *   POST /peripherals/<name>/grant    {"token"?: n}  -> 200 {"peripheral","module","token","until"} | 409 {"refused","current"}
 *   POST /peripherals/<name>/release  {"token": n}   -> 200 {"released": true}
 *   POST /peripherals/<name>/write    {"token": n}   -> 200 {"ok": true} | 409 {"refused","current"}
 *   GET  /peripherals                                -> what this agent holds
 *
 * A workload (or the device wrapper in front of the device) asks for a grant before opening
 * the device and again before `until`; it sends its token with each write check, and a token
 * older than the one this agent holds is refused. Every grant is written to the history before
 * the answer goes out: a grant the history cannot take (a full disk, EIO) is refused with 503
 * and the reason, and the agent goes on. Losing a peripheral is never held back by the history.
 */

export interface GrantServiceOptions {
  module: string;
  peripherals: AgentPeripheral[];
  client: Pick<ApiClient, 'request'>;
  timings: PeripheralTimings;
  history: Append;
  runDevice: DeviceRunner;
  log: Log;
  mono: () => number;
  wall: () => number;
}

const MAX_BODY = 4096;

export class GrantService {
  private readonly owners = new Map<string, PeripheralOwner>();

  constructor(private readonly o: GrantServiceOptions) {
    for (const p of o.peripherals) {
      this.owners.set(
        p.name,
        new PeripheralOwner({
          client: o.client,
          module: o.module,
          peripheral: p.name,
          timings: o.timings,
          mono: o.mono,
          wall: o.wall,
          events: {
            acquired: (token) => {
              o.log('info', 'peripheral owned: granting', { peripheral: p.name, token });
              this.device(p, token, true);
            },
            lost: (token, reason) => {
              o.log(reason === 'lease-lapsed' ? 'warn' : 'info', 'peripheral no longer granted', { peripheral: p.name, token, reason });
              this.record({ kind: 'release', peripheral: p.name, token, reason });
              this.device(p, token, false);
            },
            confirming: (token) => this.record({ kind: 'release', peripheral: p.name, token, reason: 'release-confirmed' }),
          },
        }),
      );
    }
  }

  start(): void {
    for (const owner of this.owners.values()) owner.start();
  }

  stop(): void {
    for (const owner of this.owners.values()) owner.stop();
  }

  /** Handles /peripherals requests; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path !== '/peripherals' && !path.startsWith('/peripherals/')) return false;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (path === '/peripherals') {
      if (req.method !== 'GET') send(405, { error: 'GET /peripherals' });
      else send(200, this.holdings());
      return true;
    }
    const m = /^\/peripherals\/([^/]+)\/(grant|release|write)$/.exec(path);
    const owner = m ? this.owners.get(m[1]!) : undefined;
    if (!m || !owner) {
      send(404, { error: `no exclusive peripheral of module ${this.o.module} at ${path}`, peripherals: [...this.owners.keys()] });
      return true;
    }
    if (req.method !== 'POST') {
      send(405, { error: `POST ${path}` });
      return true;
    }
    readJson(req)
      .then(
        (body) => {
          const token = body?.token;
          if (token !== undefined && !Number.isSafeInteger(token)) return send(400, { error: '"token" must be an integer' });
          send(...this.answer(m[1]!, m[2] as 'grant' | 'release' | 'write', owner, token as number | undefined));
        },
        (e: Error) => send(400, { error: e.message }),
      )
      // Whatever goes wrong answering one request, the agent and its other loops go on.
      .catch((e: Error) => {
        this.o.log('error', 'grant request failed', { path, error: e.message });
        if (!res.headersSent) send(500, { error: e.message });
      });
    return true;
  }

  private answer(peripheral: string, op: 'grant' | 'release' | 'write', owner: PeripheralOwner, token: number | undefined): [number, unknown] {
    if (op === 'release') {
      if (token === undefined) return [400, { error: 'a release names the token it gives back' }];
      if (owner.state.token === token) this.record({ kind: 'release', peripheral, token, reason: 'client' });
      return [200, { released: owner.state.token === token }];
    }
    if (op === 'write' && token === undefined) return [400, { error: 'a write carries the token of its grant' }];
    const d = decideGrant(owner.state, this.o.mono(), token);
    if (!d.ok) {
      if (d.refusal === 'stale-token' || d.refusal === 'unknown-token')
        this.record({ kind: 'refused', peripheral, token: token!, reason: `${op}: ${d.refusal} (current ${d.current})` });
      return [409, { refused: d.refusal, current: d.current, module: this.o.module }];
    }
    if (op === 'write') return [200, { ok: true, token: d.token }];
    const until = new Date(this.o.wall() + d.validForMs).toISOString();
    // No grant the history does not hold: `peripheral check` proves from it that none overlapped.
    const unwritten = this.record({ kind: 'grant', peripheral, token: d.token, until });
    if (unwritten !== undefined) return [503, { refused: 'history-unwritable', error: unwritten, module: this.o.module }];
    return [200, { peripheral, module: this.o.module, token: d.token, until }];
  }

  private holdings(): unknown {
    const now = this.o.mono();
    return [...this.owners].map(([name, owner]) => {
      const s = owner.state;
      return {
        name,
        module: this.o.module,
        granting: s.token !== null && now < s.validUntil,
        token: s.token,
        validForMs: s.token === null ? 0 : Math.max(0, Math.round(s.validUntil - now)),
      };
    });
  }

  /** Appends to the history; the error when it could not (logged), never thrown. */
  private record(r: {
    kind: 'grant' | 'release' | 'refused' | 'device';
    peripheral: string;
    token: number;
    until?: string;
    reason?: string;
  }): string | undefined {
    try {
      this.o.history({ ...r, module: this.o.module, at: new Date(this.o.wall()).toISOString() });
      return undefined;
    } catch (e) {
      const error = (e as Error).message;
      this.o.log('error', 'cannot write the peripheral history', {
        kind: r.kind,
        peripheral: r.peripheral,
        error,
        hint: 'free space on, or repair, the disk of the history file',
      });
      return error;
    }
  }

  private device(p: AgentPeripheral, token: number, up: boolean): void {
    for (const c of deviceCommands(p, this.o.module, up)) {
      this.record({ kind: 'device', peripheral: p.name, token, reason: describeCommand(c) });
      this.o
        .runDevice(c)
        .catch((e: Error) => this.o.log('error', 'device action failed', { peripheral: p.name, action: describeCommand(c), error: e.message }));
    }
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error(`body larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return undefined;
  const v = JSON.parse(text) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the body must be a JSON object');
  return v as Record<string, unknown>;
}
