import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { BoxState } from '../../src/local/box-state.js';
import { k3sEtcdTls, memberEndpoint } from '../../src/local/member-gateway.js';

/**
 * The keys under `prefix` as one member holds them, each with its mod revision (`key@revision`,
 * sorted): a serializable read of that member's own etcd, not through the API or the leader. Two
 * members that disagree here hold different data (etcd issue 14009: members rejoined after a
 * `--force-new-cluster` reset ended with other revisions than the survivor).
 */
export async function memberRevisions(state: BoxState, module: string, prefix: string): Promise<string[]> {
  const endpoint = memberEndpoint(state, module);
  if (!endpoint) throw new Error(`${module} holds no etcd member`);
  const b64 = (x: string) => Buffer.from(x).toString('base64');
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const body = JSON.stringify({ key: b64(prefix), range_end: b64(end), serializable: true, keys_only: true });
  const tls = state.k3s ? await k3sEtcdTls(state.dir, module) : undefined;
  const answer = await new Promise<string>((done, fail) => {
    const url = `${endpoint}/v3/kv/range`;
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
    };
    const req = tls ? httpsRequest(url, { method: 'POST', ...tls }, onResponse) : httpRequest(url, { method: 'POST' }, onResponse);
    req.setTimeout(5000, () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on('error', fail);
    req.end(body);
  });
  return ((JSON.parse(answer) as { kvs?: { key: string; mod_revision: string }[] }).kvs ?? [])
    .map((kv) => `${Buffer.from(kv.key, 'base64').toString('utf8')}@${kv.mod_revision}`)
    .sort();
}
