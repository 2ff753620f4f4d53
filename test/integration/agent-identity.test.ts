import { readFile } from 'node:fs/promises';
import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, updateWithRetry, type ApiResponse } from '../../src/agent/api/client.js';
import { readApiTarget } from '../../src/agent/api/kubeconfig.js';
import { writeAgentLease } from '../../src/agent/heartbeat/lease-publisher.js';
import { apiSingletonLister } from '../../src/agent/self-fence/local-runtime.js';
import { CONTROL_PLANE_ANNOTATIONS, K3S_REMOVE_ANNOTATION } from '../../src/contract/control-plane.js';
import { agentUsername } from '../../src/contract/identity.js';
import { agentLeaseName, SYSTEM_NAMESPACE } from '../../src/contract/leases.js';
import { PEER_VIEW_ANNOTATION } from '../../src/contract/peer-view.js';
import { peripheralLeaseName } from '../../src/contract/peripherals.js';
import { FENCE_TAINTS } from '../../src/contract/taints.js';
import { microTime } from '../../src/kube/time.js';
import { agentKubeconfigFile } from '../../src/local/agent-identity.js';
import { readState } from '../../src/local/box-state.js';
import { apiSocketFile } from '../../src/local/self-healing.js';
import { SPEC } from './failover-helpers.js';
import { eventually, startBox, type Box } from './harness.js';

/**
 * One identity per module (docs/decisions/0005-one-identity-per-module.md), against the real API
 * server of a local box whose agents run as their modules' own ServiceAccounts. A is motor-1, an
 * agent-only motor board attached to the exclusive motor-bus (which core-1 holds); B is core-1.
 * With A's own token (the kubeconfig the box gave its agent) every legitimate write works and
 * every write that would let A speak for another module is refused, by RBAC or by the admission
 * policy `edgebox-agents`.
 */
const A = 'motor-1';
const B = 'core-1';
const BUS = 'motor-bus';
const BOX = 'failover-cell';

const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases/${name}`;
const nodePath = (name: string) => `/api/v1/nodes/${name}`;
type Obj = Record<string, any>;

describe('one identity per module: an agent writes only what is its own', () => {
  let box: Box;
  const clients = new Map<string, ApiClient>();
  const as = async (module: string) => {
    if (!clients.has(module)) clients.set(module, new ApiClient(await readApiTarget(agentKubeconfigFile(box.dir, module))));
    return clients.get(module)!;
  };
  const core = () => box.kc.makeApiClient(CoreV1Api);
  const leases = () => box.kc.makeApiClient(CoordinationV1Api);
  /**
   * A PUT of the admin's fresh copy of a Lease, changed: Leases take no unconditional update, and the
   * running agents renew theirs every second, so a write that lost that race (409) is tried again.
   */
  const putLease = async (c: ApiClient, name: string, change: (l: Obj) => void): Promise<ApiResponse> => {
    for (let attempt = 0; ; attempt++) {
      const l = JSON.parse(JSON.stringify(await leases().readNamespacedLease({ name, namespace: SYSTEM_NAMESPACE }))) as Obj;
      l.metadata.labels ??= {};
      l.metadata.annotations ??= {};
      change(l);
      const res = await c.request('PUT', leasePath(name), l);
      if (res.status !== 409 || attempt === 5) return res;
    }
  };
  const adminNode = async (name: string): Promise<Obj> => {
    const n = JSON.parse(JSON.stringify(await core().readNode({ name }))) as Obj;
    delete n.metadata.resourceVersion;
    n.metadata.labels ??= {};
    n.metadata.annotations ??= {};
    return n;
  };
  const message = (r: ApiResponse) => String((r.body as { message?: unknown } | undefined)?.message ?? '');
  /** Refused by the admission policy (not merely by RBAC): the policy's own reason. */
  const refusedByPolicy = (r: ApiResponse, reason: RegExp) => {
    expect(r.status, message(r)).toBe(403);
    expect(message(r)).toContain("ValidatingAdmissionPolicy 'edgebox-agents'");
    expect(message(r)).toMatch(reason);
  };
  const refusedByRbac = (r: ApiResponse, verb: string) => {
    expect(r.status, message(r)).toBe(403);
    expect(message(r)).toContain(`User "${agentUsername(A)}" cannot ${verb}`);
  };
  const annotateNode = (annotations: Record<string, string | null>, name: string) =>
    core().patchNode({ name, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));

  beforeAll(async () => {
    box = await startBox(SPEC, { timings: 'tuned', withAgents: true, controlPlane: 'single' });
    // The controller's part, by hand: the bus's ownership Lease, held by core-1 (token 1).
    const now = microTime(Date.now());
    await leases().createNamespacedLease({
      namespace: SYSTEM_NAMESPACE,
      body: {
        metadata: { name: peripheralLeaseName(BUS), namespace: SYSTEM_NAMESPACE },
        spec: { holderIdentity: B, leaseTransitions: 1, leaseDurationSeconds: 3, acquireTime: now as never, renewTime: now as never },
      },
    });
  });
  afterAll(async () => {
    for (const c of clients.values()) c.close();
    await box?.stop();
  });

  it('every agent runs with a kubeconfig of its own, whose token is its module ServiceAccount', async () => {
    const state = (await readState(box.dir))!;
    expect(state.agents).toHaveLength(6);
    for (const agent of state.agents!) {
      const cmdline = (await readFile(`/proc/${agent.pid}/cmdline`, 'utf8')).split('\0');
      expect(cmdline[cmdline.indexOf('--kubeconfig') + 1]).toBe(agentKubeconfigFile(box.dir, agent.module));
      const review = await (
        await as(agent.module)
      ).request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'SelfSubjectReview',
      });
      expect((review.body as Obj).status?.userInfo?.username).toBe(agentUsername(agent.module));
    }
  });

  it("the running agents' own writes pass: every view Lease renewed by its module, the holder renews the bus's Lease", async () => {
    const before = await leases().readNamespacedLease({ name: peripheralLeaseName(BUS), namespace: SYSTEM_NAMESPACE });
    const views = async () => (await leases().listNamespacedLease({ namespace: SYSTEM_NAMESPACE })).items.filter((l) => l.metadata?.name?.startsWith('agent-'));
    const first = await views();
    await eventually(
      async () => {
        const now = await views();
        expect(now.map((l) => l.spec?.holderIdentity).sort()).toEqual(['core-1', 'core-2', 'core-3', 'motor-1', 'vision-1', 'vision-2']);
        for (const l of now) {
          const was = first.find((x) => x.metadata?.name === l.metadata?.name);
          expect(String(l.spec?.renewTime), l.metadata?.name).not.toBe(String(was?.spec?.renewTime));
        }
        const bus = await leases().readNamespacedLease({ name: peripheralLeaseName(BUS), namespace: SYSTEM_NAMESPACE });
        expect(bus.spec).toMatchObject({ holderIdentity: B, leaseTransitions: 1 });
        expect(String(bus.spec?.renewTime)).not.toBe(String(before.spec?.renewTime));
      },
      { timeoutMs: 15_000, message: 'every view Lease and the bus Lease renewed by their agents' },
    );
  });

  it("A's own legitimate writes: its view Lease (the publisher's code), discovery's labels on its Node, listing its pods over the box socket", async () => {
    const a = await as(A);
    const view = { [B]: { reachable: true, lastSeen: new Date(Date.now() - 150).toISOString(), suspicion: 0.5 } };
    const written = await writeAgentLease(a, undefined, { box: BOX, module: A, view: () => view, wallNow: Date.now });
    expect(written.spec?.holderIdentity).toBe(A);

    const labelled = await updateWithRetry(a, nodePath(A), (n) => ({
      ...n,
      metadata: {
        ...(n.metadata as Obj),
        labels: { ...(n.metadata as Obj).labels, 'discovered.edgebox.dev/hardware': 'rpi-cm4-2gb', 'edgebox.dev/cap.can': 'true' },
      },
    }));
    expect(labelled.status, message(labelled)).toBe(200);
    const target = await readApiTarget(agentKubeconfigFile(box.dir, A));
    await expect(apiSingletonLister(target, A, apiSocketFile(box.dir))()).resolves.toEqual([]);
  });

  it("A cannot update B's view Lease, nor create a Lease in B's name", async () => {
    const a = await as(A);
    const forged = await putLease(a, agentLeaseName(B), (l) => {
      l.metadata.annotations[PEER_VIEW_ANNOTATION] = JSON.stringify({ [A]: { reachable: false, lastSeen: null, suspicion: 99 } });
    });
    refusedByRbac(forged, 'update resource "leases"');
    const ghost = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: agentLeaseName('ghost'), namespace: SYSTEM_NAMESPACE },
      spec: { holderIdentity: 'ghost' },
    };
    refusedByPolicy(await a.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases`, ghost), /creates only its own view Lease/);
  });

  it("A cannot forge a view that heard a peer after its own renewal, nor hide one behind a JSON escape, nor publish it under B's name", async () => {
    const a = await as(A);
    const renew = Date.now();
    const later = new Date(renew + 10_000).toISOString();
    const view = (l: Obj, text: string) => {
      l.spec.renewTime = microTime(renew);
      l.metadata.annotations[PEER_VIEW_ANNOTATION] = text;
    };
    const after = JSON.stringify({ [B]: { reachable: false, lastSeen: later, suspicion: 50 } });
    refusedByPolicy(await putLease(a, agentLeaseName(A), (l) => view(l, after)), /lastSeen later than its own renewTime/);
    const escaped = `{"${B}":{"reachable":false,"last\\u0053een":"${later}","suspicion":50}}`;
    expect(JSON.parse(escaped)[B].lastSeen).toBe(later);
    refusedByPolicy(await putLease(a, agentLeaseName(A), (l) => view(l, escaped)), /JSON escape/);
    const fine = JSON.stringify({ [B]: { reachable: true, lastSeen: new Date(renew - 100).toISOString(), suspicion: 0 } });
    const underB = await putLease(a, agentLeaseName(A), (l) => {
      view(l, fine);
      l.metadata.labels['edgebox.dev/module'] = B;
    });
    refusedByPolicy(underB, /names its own module/);
  });

  it("A cannot patch B's Node labels, nor change labels or annotations on its own Node that are not discovery's", async () => {
    const a = await as(A);
    const b = await adminNode(B);
    b.metadata.labels['edgebox.dev/cap.gpu.cuda'] = 'true';
    refusedByRbac(await a.request('PUT', nodePath(B), b), 'update resource "nodes"');
    for (const [change, reason] of [
      [(n: Obj) => (n.metadata.labels['edgebox.dev/role.server'] = 'true'), /only the labels discovery owns/],
      [(n: Obj) => (n.metadata.labels[`edgebox.dev/owns.${BUS}`] = 'true'), /only the labels discovery owns/],
      [(n: Obj) => (n.metadata.annotations[CONTROL_PLANE_ANNOTATIONS.desiredRole] = 'server'), /only the edgebox.dev\/discovered-resources annotation/],
    ] as const) {
      const own = await adminNode(A);
      change(own);
      refusedByPolicy(await a.request('PUT', nodePath(A), own), reason);
    }
  });

  it('A cannot strip the fence taints from its own Node, nor from anyone else', async () => {
    const taints = (await core().readNode({ name: A })).spec?.taints ?? [];
    const setTaints = (value: unknown[]) =>
      core().patchNode({ name: A, body: [{ op: 'add', path: '/spec/taints', value }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    await setTaints([...taints, ...FENCE_TAINTS]);
    try {
      const a = await as(A);
      const own = await adminNode(A);
      own.spec.taints = [];
      refusedByPolicy(await a.request('PUT', nodePath(A), own), /never changes its Node's spec/);
      expect((await core().readNode({ name: A })).spec?.taints?.map((t) => t.key)).toEqual(expect.arrayContaining(FENCE_TAINTS.map((t) => t.key)));
      const b = await adminNode(B);
      b.spec.taints = [];
      refusedByRbac(await a.request('PUT', nodePath(B), b), 'update resource "nodes"');
    } finally {
      await setTaints(taints);
    }
  });

  it('nobody writes the removal annotation outside the guardian path: A never, a server-eligible agent only on a Node the guardian marked', async () => {
    const a = await as(A);
    const target = 'core-3';
    const withRemoval = async (n: string) => {
      const node = await adminNode(n);
      node.metadata.annotations = { ...node.metadata.annotations, [K3S_REMOVE_ANNOTATION]: 'true' };
      return node;
    };
    refusedByRbac(await a.request('PUT', nodePath(target), await withRemoval(target)), 'update resource "nodes"');
    const guardianAsk = await adminNode(A);
    guardianAsk.metadata.annotations[CONTROL_PLANE_ANNOTATIONS.etcdRemove] = 'true';
    refusedByPolicy(await a.request('PUT', nodePath(A), guardianAsk), /only the edgebox.dev\/discovered-resources annotation/);

    // core-2 may serve, so its agent may carry out a removal: only once the guardian asked for it.
    const server = await as('core-2');
    const early = await server.request('PUT', nodePath(target), await withRemoval(target));
    expect(early.status, message(early)).toBe(403);
    expect(message(early)).toMatch(/after the guardian asked for it/);
    await annotateNode({ [CONTROL_PLANE_ANNOTATIONS.etcdRemove]: 'true' }, target);
    try {
      const asked = await server.request('PUT', nodePath(target), await withRemoval(target));
      expect(asked.status, message(asked)).toBe(200);
      // ...and nothing else rides along with it.
      const more = await withRemoval(target);
      more.metadata.labels['edgebox.dev/cap.gpu.cuda'] = 'true';
      const refused = await server.request('PUT', nodePath(target), more);
      expect(refused.status, message(refused)).toBe(403);
    } finally {
      await annotateNode({ [CONTROL_PLANE_ANNOTATIONS.etcdRemove]: null, [K3S_REMOVE_ANNOTATION]: null }, target);
    }
  });

  it("A cannot take the peripheral's Lease it is attached to but not granted, renew it, or create another ownership Lease", async () => {
    const a = await as(A);
    const bus = peripheralLeaseName(BUS);
    const take = await putLease(a, bus, (l) => {
      l.spec.holderIdentity = A;
      l.spec.leaseTransitions = 2;
    });
    refusedByPolicy(take, /only while it holds it/);
    refusedByPolicy(await putLease(a, bus, (l) => (l.spec.renewTime = microTime(Date.now()))), /only while it holds it/);
    // The holder itself renews it (the test above), but may not raise its own token.
    refusedByPolicy(await putLease(await as(B), bus, (l) => (l.spec.leaseTransitions = 7)), /holder, token and times are the controller's/);
    const other = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: peripheralLeaseName('arm'), namespace: SYSTEM_NAMESPACE },
      spec: { holderIdentity: A },
    };
    refusedByPolicy(await a.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NAMESPACE}/leases`, other), /creates only its own view Lease/);
    expect((await leases().readNamespacedLease({ name: bus, namespace: SYSTEM_NAMESPACE })).spec).toMatchObject({ holderIdentity: B, leaseTransitions: 1 });
  });
});
