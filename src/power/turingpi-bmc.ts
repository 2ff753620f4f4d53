import { POWER_BOARDS } from '../catalog/power-boards.js';
import { failure } from '../diagnostics/diagnostic.js';
import type { PowerDriver, PowerState } from './driver.js';

/**
 * The Turing Pi 2 BMC's HTTP API (bmcd; docs.turingpi.com "BMC API", firmware 2.x):
 *  - `GET /api/bmc?opt=set&type=power&node<N>=0` powers slot N off (`=1` on). The power
 *    parameters count slots from 1 (`node1`..`node4`), unlike `node=` of the other calls (0-3).
 *  - `GET /api/bmc?opt=get&type=power` answers
 *    `{"response":[{"result":[{"node1":"1","node2":"0","node3":"1","node4":"1"}]}]}`
 *    ("1" on, "0" off; the numbers are strings since 2.0, numbers before).
 *  - Since firmware 2.0 every request is authenticated: `POST /api/bmc/authenticate` with
 *    `{"username","password"}` returns a session token (the `X-Auth-Token` header, also the
 *    body's `id`), sent as `Authorization: Bearer <token>`; an expired token gets 401, and a
 *    new session is opened once. Errors come as a non-2xx status with
 *    `{"response":[{"result":"<message>"}]}`.
 * The BMC serves HTTPS with a self-signed certificate: give Node its certificate through
 * NODE_EXTRA_CA_CERTS (nothing here turns verification off).
 */

export interface BmcCredentials {
  username: string;
  password: string;
}

export interface TuringPiBmcOptions {
  /** Base URL of the BMC. Default: https://turingpi.local (the board's mDNS name). */
  endpoint: string;
  credentials?: BmcCredentials;
  /** Per request. Default 5 s: a BMC that does not answer must not stall fencing for long. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const BOARD = POWER_BOARDS['turingpi-bmc'];
const SLOTS = BOARD.slots!;

interface LegacyBody {
  response?: { result?: unknown }[];
}

export class TuringPiBmcDriver implements PowerDriver {
  static readonly DEFAULT_ENDPOINT = BOARD.defaultEndpoint!;
  private token: string | undefined;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly o: TuringPiBmcOptions) {
    this.fetch = o.fetch ?? fetch;
    this.timeoutMs = o.timeoutMs ?? 5000;
  }

  async powerOff(module: string, slot: number): Promise<void> {
    await this.call(module, { opt: 'set', type: 'power', [`node${checkSlot(module, slot)}`]: '0' });
  }

  /**
   * Routes the board's USB bus to the slot, with the module as USB host (`opt=set&type=usb&mode=0&node=<slot-1>`;
   * `node=` counts from 0 here): the bus then reaches that module only. Used by the agent that
   * takes ownership of a peripheral on that bus (src/agent/grant/device.ts).
   */
  async routeUsb(module: string, slot: number): Promise<void> {
    await this.call(module, { opt: 'set', type: 'usb', mode: '0', node: String(checkSlot(module, slot) - 1) });
  }

  async state(module: string, slot: number): Promise<PowerState> {
    const body = await this.call(module, { opt: 'get', type: 'power' });
    const key = `node${checkSlot(module, slot)}`;
    const first = body.response?.[0];
    // 2.x: {"response":[{"result":[{...}]}]}; 1.x: {"response":[{...}]}.
    const states = (Array.isArray(first?.result) ? first.result[0] : first) as Record<string, unknown> | undefined;
    const v = states?.[key];
    if (v === '1' || v === 1) return 'on';
    if (v === '0' || v === 0) return 'off';
    return 'unknown';
  }

  private async call(module: string, params: Record<string, string>, retried = false): Promise<LegacyBody> {
    if (this.o.credentials && this.token === undefined) this.token = await this.authenticate(module);
    const url = new URL('/api/bmc', this.o.endpoint);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const res = await this.request(module, url, { method: 'GET', headers: this.token ? { authorization: `Bearer ${this.token}` } : {} });
    if (res.status === 401 && this.o.credentials && !retried) {
      // The session expired (its lifetime is the BMC's configuration): open a new one, once.
      this.token = undefined;
      return this.call(module, params, true);
    }
    const text = await res.text();
    let body: LegacyBody = {};
    try {
      body = JSON.parse(text) as LegacyBody;
    } catch {
      // Not JSON: the status decides; the text goes into the error.
    }
    if (!res.ok) {
      const said = typeof body.response?.[0]?.result === 'string' ? body.response[0].result : text.slice(0, 200);
      throw failure(
        'controller.bmc-request-failed',
        `the Turing Pi BMC at ${this.o.endpoint} answered ${res.status} to ${params.opt} ${params.type} for module ${module}: ${said}`,
        res.status === 401 || res.status === 403 ? 'check EDGEBOX_BMC_USERNAME and EDGEBOX_BMC_PASSWORD' : 'check the BMC firmware (2.x) and its log',
      );
    }
    return body;
  }

  private async authenticate(module: string): Promise<string> {
    const url = new URL('/api/bmc/authenticate', this.o.endpoint);
    const res = await this.request(module, url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(this.o.credentials),
    });
    const text = await res.text();
    let id: unknown;
    try {
      id = (JSON.parse(text) as { id?: unknown }).id;
    } catch {
      // The header carries it too.
    }
    const token = res.headers.get('x-auth-token') ?? (typeof id === 'string' ? id : undefined);
    if (!res.ok || !token) {
      throw failure(
        'controller.bmc-login-failed',
        `the Turing Pi BMC at ${this.o.endpoint} refused the login (${res.status}): ${text.slice(0, 200)}`,
        "check EDGEBOX_BMC_USERNAME and EDGEBOX_BMC_PASSWORD (the BMC's root login by default)",
      );
    }
    return token;
  }

  private async request(module: string, url: URL, init: RequestInit): Promise<Response> {
    try {
      return await this.fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw failure(
        'controller.bmc-unreachable',
        `cannot reach the Turing Pi BMC at ${this.o.endpoint} for module ${module}: ${(e as Error).message}`,
        "check the module's power.endpoint in the spec, the network to the BMC, and NODE_EXTRA_CA_CERTS for its certificate",
      );
    }
  }
}

function checkSlot(module: string, slot: number): number {
  if (!Number.isInteger(slot) || slot < 1 || slot > SLOTS) {
    throw failure('controller.bmc-bad-slot', `module ${module} is in slot ${slot}, and a Turing Pi 2 has slots 1-${SLOTS}`, 'fix power.slot in the spec');
  }
  return slot;
}
