import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgebox, editedSpec, ROOT, workloadPods } from './apply-helpers.js';
import { eventually, startBox } from './harness.js';

const SPEC = join(ROOT, 'test/fixtures/apply-full-module.yaml');
const NS = 'full-cell';

let box: Awaited<ReturnType<typeof startBox>>;

beforeAll(async () => {
  box = await startBox(SPEC, { timings: 'tuned' });
});
afterAll(async () => {
  await box?.stop();
});

describe('edgebox apply when a module is full, a module has no node, or RBAC says no', () => {
  it("leaves the workload that does not fit Pending and reports the scheduler's reason", async () => {
    const first = await edgebox(['apply', SPEC, '--kubeconfig', box.kubeconfigPath]);
    expect(first.code, first.stderr).toBe(0);
    await eventually(
      async () => {
        const [uplink] = await workloadPods(box.kc, NS, 'uplink');
        if (uplink?.phase !== 'Running') throw new Error(`uplink: ${uplink?.phase}`);
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'uplink Running' },
    );

    // The scheduler decides after apply returns; a later apply (a no-op) reports what it found.
    const report = await eventually(
      async () => {
        const run = await edgebox(['apply', SPEC, '--kubeconfig', box.kubeconfigPath]);
        if (!run.stdout.includes('apply.workload-unschedulable')) throw new Error(run.stdout);
        return run;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, message: 'apply reports recorder unschedulable' },
    );
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(
      /warning apply\.workload-unschedulable: workload recorder: pod recorder-\S+ is Pending: 0\/2 nodes are available: .*1 Insufficient memory/,
    );
    expect(report.stdout).toMatch(/no changes/);
    expect(report.stdout).not.toMatch(/workload uplink/);

    const [recorder] = await workloadPods(box.kc, NS, 'recorder');
    expect(recorder?.phase).toBe('Pending');
    expect(recorder?.node).toBeUndefined();
  });

  it('warns about a module without a node and applies the rest', async () => {
    const bigger = await editedSpec(SPEC, {
      addModules: [{ name: 'net-2', hardware: 'rpi-cm4-4gb', address: '192.168.8.16', roles: ['agent'], capabilities: ['wifi'] }],
    });
    const run = await edgebox(['apply', bigger, '--kubeconfig', box.kubeconfigPath, '-o', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const view = JSON.parse(run.stdout) as { actions: { outcome: string; name: string }[]; diagnostics: { code: string; message: string; severity: string }[] };
    expect(view.actions).toContainEqual(expect.objectContaining({ outcome: 'missing-node', name: 'net-2' }));
    expect(view.actions.filter((a) => a.outcome === 'unchanged').map((a) => a.name)).toEqual(
      expect.arrayContaining(['master-1', 'net-1', 'uplink', 'recorder']),
    );
    expect(view.diagnostics).toContainEqual(
      expect.objectContaining({
        code: 'apply.module-without-node',
        severity: 'warning',
        message: 'module net-2 has no node yet: join it with the K3s config from `edgebox render`',
      }),
    );
  });

  it("says when the server's certificate does not match the kubeconfig, and exits 1", async () => {
    const kc = box.kc;
    const noCa = join(box.dir, 'no-ca.kubeconfig');
    // Without the box's CA the self-signed serving certificate cannot be verified.
    await writeFile(
      noCa,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'x',
        clusters: [{ name: 'c', cluster: { server: kc.getCurrentCluster()?.server } }],
        users: [{ name: 'u', user: { token: kc.getCurrentUser()?.token } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      }),
    );
    const run = await edgebox(['apply', SPEC, '--kubeconfig', noCa]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/error kube\.cluster-tls: TLS handshake with https:\/\/127\.0\.0\.1:\d+ failed: [A-Z_]+/);
    expect(run.stderr).toContain('certificate-authority-data');
  });

  it('names the verb and resource RBAC forbids, and exits 1', async () => {
    // A user who may read everything and change nothing, impersonated through the admin token.
    const rbac = box.kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: { metadata: { name: 'apply-test-reader' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list'] }] },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'apply-test-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'apply-test-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'reader' }],
      },
    });
    const kc = box.kc;
    const user = kc.getCurrentUser();
    const reader = join(box.dir, 'reader.kubeconfig');
    await writeFile(
      reader,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'reader',
        clusters: [{ name: 'c', cluster: { server: kc.getCurrentCluster()?.server, 'certificate-authority-data': kc.getCurrentCluster()?.caData } }],
        users: [{ name: 'reader', user: { token: user?.token, as: 'reader' } }],
        contexts: [{ name: 'reader', context: { cluster: 'c', user: 'reader' } }],
      }),
    );
    const run = await edgebox(['apply', SPEC, '--kubeconfig', reader]);
    expect(run.code).toBe(1);
    // Even the server-side dry-run apply that decides "unchanged" is a patch as far as RBAC goes.
    expect(run.stderr).toMatch(
      /error kube\.forbidden: RBAC forbids edgebox to patch namespaces \(full-cell\): .*User "reader" cannot patch resource "namespaces"/,
    );
    expect(run.stderr).toContain("hint: grant the kubeconfig's user a Role or ClusterRole that allows 'patch' on 'namespaces'");
  });
});
