import { createServer } from 'node:net';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/apply/cluster.js';
import { describeRequestError, type RequestContext } from '../../src/kube/request-errors.js';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';

const ctx: RequestContext = { server: 'https://127.0.0.1:6443', verb: 'patch', resource: 'deployments.apps', target: 'vision-cell/detector-a' };
const systemError = (code: string) => Object.assign(new Error(`request failed, reason: ${code}`), { code });
const status = (code: number, body: object) => new ApiException(code, 'Unsuccessful HTTP Request', body, {});

describe('describeRequestError', () => {
  it.each<{ name: string; error: unknown; code: string; message: RegExp; hint: RegExp }>([
    {
      name: 'connection refused',
      error: systemError('ECONNREFUSED'),
      code: 'kube.cluster-unreachable',
      message: /cannot reach the cluster at https:\/\/127\.0\.0\.1:6443: connection refused/,
      hint: /edgebox local up/,
    },
    { name: 'DNS', error: systemError('ENOTFOUND'), code: 'kube.cluster-unreachable', message: /cannot resolve the host/, hint: /server:/ },
    {
      name: 'TLS',
      error: systemError('DEPTH_ZERO_SELF_SIGNED_CERT'),
      code: 'kube.cluster-tls',
      message: /TLS handshake .* failed: DEPTH_ZERO_SELF_SIGNED_CERT/,
      hint: /certificate-authority-data/,
    },
    { name: 'TLS name mismatch', error: systemError('ERR_TLS_CERT_ALTNAME_INVALID'), code: 'kube.cluster-tls', message: /TLS/, hint: /kubeconfig/ },
    {
      name: 'unauthorized',
      error: status(401, { message: 'Unauthorized' }),
      code: 'kube.unauthorized',
      message: /did not accept the kubeconfig's credentials \(patch deployments\.apps vision-cell\/detector-a\)/,
      hint: /expired/,
    },
    {
      name: 'RBAC names the verb and the resource',
      error: status(403, { reason: 'Forbidden', message: 'deployments.apps "detector-a" is forbidden: User "nobody" cannot patch resource "deployments"' }),
      code: 'kube.forbidden',
      message: /RBAC forbids edgebox to patch deployments\.apps \(vision-cell\/detector-a\): .*User "nobody"/,
      hint: /allows 'patch' on 'deployments\.apps'/,
    },
    {
      name: 'RBAC, with the Status as JSON text (the generated APIs pass it so)',
      error: status(
        403,
        JSON.stringify({ kind: 'Status', reason: 'Forbidden', message: 'nodes is forbidden: User "nobody" cannot list resource "nodes"' }) as unknown as object,
      ),
      code: 'kube.forbidden',
      message: /RBAC forbids edgebox to patch deployments\.apps \(vision-cell\/detector-a\): nodes is forbidden: User "nobody"/,
      hint: /allows 'patch'/,
    },
    {
      name: 'a field conflict quotes the other manager',
      error: status(409, { reason: 'Conflict', details: { causes: [{ message: 'conflict with "kubectl-edit" using apps/v1', field: '.spec.replicas' }] } }),
      code: 'kube.conflict',
      message: /conflicts with another writer: conflict with "kubectl-edit"/,
      hint: /ownership labels/,
    },
    {
      name: 'anything else the server says',
      error: status(500, { message: 'etcdserver: request timed out' }),
      code: 'kube.api-error',
      message: /HTTP 500\): etcdserver: request timed out/,
      hint: /transient/,
    },
  ])('$name', ({ error, code, message, hint }) => {
    const d = describeRequestError(error, ctx)?.diagnostics[0];
    expect(d?.code).toBe(code);
    expect(d?.message).toMatch(message);
    expect(d?.hint).toMatch(hint);
  });

  it("leaves errors that are not the cluster's alone", () => {
    expect(describeRequestError(new TypeError('x is undefined'), ctx)).toBeUndefined();
  });
});

describe('Cluster against a closed loopback port', () => {
  it('reports the cluster unreachable, exit kind failure', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = s.address() as { port: number };
        s.close(() => resolve(p));
      });
    });
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const e = await new Cluster(kc).listNodes().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(EdgeboxError);
    expect((e as EdgeboxError).kind).toBe('failure');
    expect((e as EdgeboxError).diagnostics[0]?.code).toBe('kube.cluster-unreachable');
    expect((e as EdgeboxError).message).toContain(`127.0.0.1:${port}: connection refused`);
  });
});
