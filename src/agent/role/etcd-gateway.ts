import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { MemberInfo } from '../../contract/role-driver.js';

/**
 * etcd's v3 HTTP/JSON gateway (the gRPC gateway etcd serves on its client port: POST
 * `/v3/cluster/member/list`, `/v3/maintenance/status`), so the agent reads its member without
 * etcdctl or a gRPC library. K3s's embedded etcd serves it too (K3s starts etcd through
 * `embed.ConfigFromFile`, whose defaults enable the gateway), behind client-certificate auth.
 */
export interface EtcdGateway {
  /** The members as the local member sees them (not linearizable: answers without quorum). */
  memberList(): Promise<MemberInfo[]>;
  status(): Promise<EtcdStatus>;
}

/** Membership changes through the same gateway (the process role driver makes them; K3s makes its own). */
export interface EtcdMembership {
  /** Adds a member (a learner: it votes only once promoted); answers with it and the new member list. Needs quorum. */
  memberAdd(peerURLs: string[], opts: { learner: boolean }): Promise<{ member: MemberInfo; members: MemberInfo[] }>;
  /** Learner -> voter; etcd refuses while the learner is not in sync with the leader. Needs quorum. */
  memberPromote(id: string): Promise<MemberInfo[]>;
  /** Needs quorum. */
  memberRemove(id: string): Promise<MemberInfo[]>;
}

export interface EtcdStatus {
  /** Hex id of the cluster the member is in (a reset makes a new one). */
  clusterId: string;
  /** Hex id of the member that answered. */
  memberId: string;
  /** Hex id of the leader it follows; absent while it has none. */
  leaderId?: string;
  raftIndex: number;
  raftAppliedIndex: number;
  revision: number;
  isLearner: boolean;
  version: string;
}

export interface EtcdTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface EtcdGatewayOptions {
  /** `https://127.0.0.1:2382` (K3s's HTTP gateway) or `http://127.0.1.3:2379` (a local box's process engine). */
  endpoint: string;
  /**
   * Read at the first request and again after any request failed: K3s creates the certificates
   * when the module is promoted, and rotates them only as it restarts, which fails a request.
   */
  tls?: () => Promise<EtcdTls>;
  /** Per request. Default 2000 ms. */
  timeoutMs?: number;
}

/**
 * Kept-alive connections, shared by every gateway of the process: the role loop reads its member
 * every second, and a new connection each time (a TLS handshake with a client certificate, on
 * K3s) would cost an idle agent more CPU than its heartbeats. The https pool is keyed by the TLS
 * options too, so a rotated certificate gets a connection of its own. Idle pooled sockets do not
 * keep the process alive.
 */
const AGENTS = { http: new HttpAgent({ keepAlive: true, maxSockets: 2 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 2 }) };

export function etcdGateway(opts: EtcdGatewayOptions): EtcdGateway & EtcdMembership {
  /**
   * A read on a kept-alive connection the member closed meanwhile (a restart) is made once more on
   * a new one. Membership changes are not: the member may have made the change before the
   * connection died, and the callers retry those knowing what the cluster then looks like.
   */
  const read = async (path: string): Promise<unknown> => {
    try {
      return await post(path);
    } catch (e) {
      if ((e as { reusedSocket?: boolean }).reusedSocket) return post(path);
      throw e;
    }
  };
  // Three files read for each request of an observation every second or two cost an idle agent
  // more than the requests themselves.
  let material: Promise<EtcdTls> | undefined;
  const post = async (path: string, payload: unknown = {}): Promise<unknown> => {
    try {
      const url = new URL(path, opts.endpoint);
      const tls = url.protocol === 'https:' && opts.tls ? await (material ??= opts.tls()) : undefined;
      return await send(url, path, payload, tls);
    } catch (e) {
      material = undefined;
      throw e;
    }
  };
  const send = (url: URL, path: string, payload: unknown, tls: EtcdTls | undefined): Promise<unknown> => {
    const timeoutMs = opts.timeoutMs ?? 2000;
    const body = Buffer.from(JSON.stringify(payload));
    return new Promise((done, fail) => {
      const https = url.protocol === 'https:';
      const request = https ? httpsRequest : httpRequest;
      const req = request(
        url,
        {
          agent: https ? AGENTS.https : AGENTS.http,
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Content-Length': body.length },
          timeout: timeoutMs,
          ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', fail);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) return fail(new Error(`${path} answered HTTP ${res.statusCode}: ${gatewayError(text)}`));
            try {
              done(JSON.parse(text));
            } catch {
              fail(new Error(`${path} answered something that is not JSON: ${text.slice(0, 300)}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) => fail(req.reusedSocket && e.code === 'ECONNRESET' ? Object.assign(e, { reusedSocket: true }) : e));
      req.end(body);
    });
  };
  return {
    memberList: async () => parseMemberList(await read('/v3/cluster/member/list')),
    status: async () => parseStatus(await read('/v3/maintenance/status')),
    memberAdd: async (peerURLs, o) => {
      const body = await post('/v3/cluster/member/add', { peerURLs, isLearner: o.learner });
      const [member] = parseMemberList({ members: [(body as { member?: unknown } | null)?.member] });
      return { member: member!, members: parseMemberList(body) };
    },
    memberPromote: async (id) => parseMemberList(await post('/v3/cluster/member/promote', { ID: decimalId(id) })),
    memberRemove: async (id) => parseMemberList(await post('/v3/cluster/member/remove', { ID: decimalId(id) })),
  };
}

/** The gateway writes uint64 as decimal strings (JSON numbers lose precision above 2^53). */
function uint(v: unknown): bigint {
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
  return 0n;
}

/** A hex member id as the gateway takes it: uint64 in decimal (a JSON string). */
export function decimalId(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}

/** The gateway's error body `{"error": ..., "code": 9, "message": "etcdserver: ..."}`: its message, else the text. */
export function gatewayError(text: string): string {
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  } catch {
    // Not JSON: the text itself says what happened.
  }
  return text.slice(0, 300);
}

/** etcdctl prints member ids in hex; so do edgebox's reports. */
export function hexId(v: unknown): string {
  return uint(v).toString(16);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** `/v3/cluster/member/list`'s answer. Field names are etcd's proto names (`ID`, `isLearner`...). */
export function parseMemberList(body: unknown): MemberInfo[] {
  const members = (body as { members?: unknown } | null)?.members;
  if (!Array.isArray(members)) return [];
  return members.map((m: Record<string, unknown>) => ({
    id: hexId(m.ID),
    name: typeof m.name === 'string' ? m.name : '',
    peerURLs: strings(m.peerURLs),
    clientURLs: strings(m.clientURLs),
    learner: m.isLearner === true,
  }));
}

/** `/v3/maintenance/status`'s answer. A zero leader (proto3 leaves zeros out) means none. */
export function parseStatus(body: unknown): EtcdStatus {
  const b = (body ?? {}) as Record<string, unknown>;
  const header = (b.header ?? {}) as Record<string, unknown>;
  const leader = uint(b.leader);
  return {
    clusterId: hexId(header.cluster_id),
    memberId: hexId(header.member_id),
    ...(leader !== 0n ? { leaderId: leader.toString(16) } : {}),
    raftIndex: Number(uint(b.raftIndex)),
    raftAppliedIndex: Number(uint(b.raftAppliedIndex)),
    revision: Number(uint(header.revision)),
    isLearner: b.isLearner === true,
    version: typeof b.version === 'string' ? b.version : '',
  };
}

/**
 * etcd refuses to promote a learner that has not caught up with the leader yet
 * (`ErrLearnerNotReady`: "can only promote a learner member which is in sync with leader"): the
 * driver retries then, and only then.
 */
export function learnerNotReady(message: string): boolean {
  return /in sync with leader/i.test(message);
}

/**
 * etcd refuses to promote a member that is a voter already (`ErrMemberNotLearner`: "can only
 * promote a learner member", nothing after it): a retry whose first answer was lost is done.
 */
export function alreadyVoter(message: string): boolean {
  return /can only promote a learner member\s*$/i.test(message);
}
