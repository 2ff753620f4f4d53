import { execFile } from 'node:child_process';
import { request, type RequestOptions } from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ApiextensionsV1Api, CoreV1Api, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderGitops } from '../../src/render/gitops.js';
import { EXAMPLES, example } from '../unit/render-fixtures.js';
import { ROOT } from './apply-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

/**
 * The Argo CD ApplicationSets `edgebox render --gitops argocd` writes, checked against Argo CD's
 * own schema: its ApplicationSet CRD (from the argo-cd Go module, fetched and checksummed by
 * `go mod download`) is installed on a real API server, which validates each rendered object on a
 * dry-run create with strict field validation (an unknown or misplaced field is an error, not a
 * warning). Argo CD v3.5.8: the newest release whose module Go 1.26 accepts.
 *
 * Fleet has no such check: the Go module proxy refuses github.com/rancher/fleet (403, "not
 * available"), so its CRDs cannot be had here; render-gitops.test.ts checks fleet.yaml against
 * the fields Fleet documents, and the bundle's gzip size.
 */
const run = promisify(execFile);
const ARGO_CD = 'github.com/argoproj/argo-cd/v3@v3.5.8';
const NAMESPACE = 'argocd';
let box: Box;

/** POST with dryRun=All and fieldValidation=Strict; the API server's status and message. */
async function strictDryRunCreate(kc: KubeConfig, path: string, body: object): Promise<{ status: number; message: string }> {
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const url = `${kc.getCurrentCluster()!.server}${path}?dryRun=All&fieldValidation=Strict`;
  return new Promise((resolve, reject) => {
    const req = request(url, { ...opts, method: 'POST', headers: { ...opts.headers, 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, message: (JSON.parse(text) as { message?: string }).message ?? '' }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const applicationSets = (repoUrl: string) =>
  renderGitops(EXAMPLES.map(example), { tool: 'argocd', repoUrl })
    .flatMap((f) => parseAllDocuments(f.content).map((d) => d.toJS() as { kind?: string; metadata: { name: string } } | null))
    .filter((o): o is { kind: string; metadata: { name: string } } => o?.kind === 'ApplicationSet');

beforeAll(async () => {
  const { stdout } = await run('go', ['mod', 'download', '-json', ARGO_CD], { cwd: ROOT });
  const crdFile = join((JSON.parse(stdout) as { Dir: string }).Dir, 'manifests/crds/applicationset-crd.yaml');
  box = await startBox('test/fixtures/agents-3.yaml');
  const crd = parse(await readFile(crdFile, 'utf8')) as V1CustomResourceDefinition;
  const ext = box.kc.makeApiClient(ApiextensionsV1Api);
  await ext.createCustomResourceDefinition({ body: crd });
  await eventually(
    async () => {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
      expect(got.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    },
    { timeoutMs: 30_000, message: 'the ApplicationSet CRD is established' },
  );
  await box.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NAMESPACE } } });
});
afterAll(async () => {
  await box?.stop();
});

describe("edgebox render --gitops argocd, validated by Argo CD's ApplicationSet CRD on a real API server", () => {
  const path = `/apis/argoproj.io/v1alpha1/namespaces/${NAMESPACE}/applicationsets`;

  it('every example box’s ApplicationSet is accepted with strict field validation', async () => {
    const sets = applicationSets('https://git.example.com/boxes.git');
    expect(sets.map((s) => s.metadata.name).sort()).toEqual(EXAMPLES.map((e) => `edgebox-${example(e).metadata.name}`).sort());
    for (const set of sets) {
      const r = await strictDryRunCreate(box.kc, path, set);
      expect(r, set.metadata.name).toEqual({ status: 201, message: '' });
    }
  });

  it('the check can fail: a misplaced field and a wrong type are refused', async () => {
    const [set] = applicationSets('https://git.example.com/boxes.git') as unknown as [Record<string, unknown> & { spec: Record<string, unknown> }];
    const misplaced = await strictDryRunCreate(box.kc, path, { ...set, spec: { ...set.spec, destination: { server: 'x' } } });
    expect(misplaced.status).toBe(400);
    expect(misplaced.message).toMatch(/unknown field "spec.destination"/);
    const wrongType = await strictDryRunCreate(box.kc, path, { ...set, spec: { ...set.spec, goTemplate: 'yes' } });
    expect(wrongType.status).toBe(422);
    expect(wrongType.message).toMatch(/spec.goTemplate: Invalid value: "string"/);
  });
});
