import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, waitForCrdEstablished } from '../crd/edgebox-crd.js';
import { failure } from '../diagnostics/diagnostic.js';
import type { KubeObject } from '../render/manifests.js';
import { FIELD_MANAGER } from '../contract/labels.js';
import { KIND } from '../spec/schema.js';
import { describeRequestError, type RequestContext } from '../kube/request-errors.js';
import { kindInfo, NODE_KIND, POD_KIND, type KindInfo, type ObjectRef } from './kinds.js';
import type { ObservedNode } from './node-plan.js';
import { apiStatus } from '../kube/client.js';
import type { Taint } from '../contract/taints.js';

/** A pod as the pending-workload report reads it. */
export interface ObservedPod {
  metadata: { name: string; namespace?: string };
  spec?: { nodeName?: string };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/**
 * The few API calls apply makes, each returning plain JSON and turning failures into
 * diagnostics that name the verb and resource. Nothing here decides anything.
 */
export class Cluster {
  readonly server: string;
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  private readonly extensions: ApiextensionsV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(private readonly kc: KubeConfig) {
    this.server = kc.getCurrentCluster()?.server ?? '(no server)';
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(CoreV1Api);
    this.extensions = kc.makeApiClient(ApiextensionsV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** The live object, or undefined when there is none. */
  async read(ref: ObjectRef): Promise<KubeObject | undefined> {
    try {
      // The generic client looks a kind up in the API's discovery first, and fails with a plain
      // Error while the EdgeBox CRD is not installed; by its path that is an ordinary 404.
      if (ref.kind === KIND) return plain(await this.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name: ref.name }));
      return plain(await this.objects.read(header(ref)));
    } catch (e) {
      if (apiStatus(e) === 404) return undefined;
      throw this.explain(e, { verb: 'get', resource: kindInfo(ref).resource, target: target(ref) });
    }
  }

  /** Every object of a kind that matches a label selector, in all namespaces. */
  async list(kind: KindInfo, labelSelector: string): Promise<KubeObject[]> {
    const list = await this.call({ verb: 'list', resource: kind.resource }, () =>
      this.objects.list(kind.apiVersion, kind.kind, undefined, undefined, undefined, undefined, undefined, labelSelector),
    );
    // List items come without apiVersion and kind.
    return list.items.map((o) => ({ ...plain(o), apiVersion: kind.apiVersion, kind: kind.kind }));
  }

  /** Server-side apply as FIELD_MANAGER; with dryRun the server computes the result and stores nothing. */
  async apply(o: KubeObject, { dryRun, force }: { dryRun: boolean; force: boolean }): Promise<KubeObject> {
    // An EdgeBox is served only once its CRD, applied just before it, is established.
    if (o.kind === KIND && !dryRun)
      await this.call({ verb: 'get', resource: 'customresourcedefinitions.apiextensions.k8s.io' }, () => waitForCrdEstablished(this.kc));
    return plain(
      await this.call({ verb: 'patch', resource: kindInfo(o).resource, target: target(o.metadata) }, () =>
        o.kind === KIND
          ? (this.custom.patchClusterCustomObject(
              {
                group: GROUP,
                version: VERSION,
                plural: PLURAL,
                name: o.metadata.name,
                body: o,
                fieldManager: FIELD_MANAGER,
                force,
                ...(dryRun ? { dryRun: 'All' } : {}),
              },
              setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
            ) as Promise<KubeObject>)
          : o.kind === 'CustomResourceDefinition'
            ? // The generic client maps a CRD through its model, whose `x_kubernetes_*` names are not
              // the API's: the schema's x-kubernetes-* keys would be dropped. This call sends it as is.
              (this.extensions.patchCustomResourceDefinition(
                {
                  name: o.metadata.name,
                  body: o,
                  fieldManager: FIELD_MANAGER,
                  force,
                  ...(dryRun ? { dryRun: 'All' } : {}),
                },
                setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
              ) as Promise<V1CustomResourceDefinition>)
            : this.objects.patch(o as KubernetesObject, undefined, dryRun ? 'All' : undefined, FIELD_MANAGER, force, PatchStrategy.ServerSideApply),
      ),
    );
  }

  async delete(ref: ObjectRef): Promise<void> {
    try {
      // Background: the garbage collector removes the ReplicaSets and pods after the owner is gone.
      await this.objects.delete(header(ref), undefined, undefined, undefined, undefined, 'Background');
    } catch (e) {
      if (apiStatus(e) === 404) return;
      throw this.explain(e, { verb: 'delete', resource: kindInfo(ref).resource, target: target(ref) });
    }
  }

  async listNodes(): Promise<ObservedNode[]> {
    const list = await this.call({ verb: 'list', resource: NODE_KIND.resource }, () => this.core.listNode());
    return list.items.map((n) => plain(n) as ObservedNode);
  }

  /**
   * Server-side apply of a node's labels alone. Forced: the patch holds exactly the labels the
   * spec declares, so taking them over from whoever set them first (K3s's --node-label at join)
   * is the point, and no other label or field is in it to take.
   */
  async applyNodeLabels(name: string, labels: Record<string, string>): Promise<void> {
    const patch = { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } };
    await this.call({ verb: 'patch', resource: NODE_KIND.resource, target: name }, () =>
      this.objects.patch(patch, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
    );
  }

  /**
   * Replaces a node's taint list, only if it still is `current`. Taints are an atomic list, so
   * they cannot be applied key by key; the JSON-patch `test` makes the read-modify-write safe
   * against the node lifecycle controller adding its own taints meanwhile.
   */
  async replaceNodeTaints(name: string, current: Taint[], next: Taint[]): Promise<void> {
    const body = current.length
      ? [
          { op: 'test', path: '/spec/taints', value: current },
          { op: 'replace', path: '/spec/taints', value: next },
        ]
      : // A node without taints has no /spec/taints to test.
        [{ op: 'add', path: '/spec/taints', value: next }];
    try {
      await this.core.patchNode({ name, body, fieldManager: FIELD_MANAGER });
    } catch (e) {
      // The API server answers a failed `test` with 422.
      if (apiStatus(e) === 422) {
        throw failure(
          'apply.node-changed',
          `the taints of node ${name} changed while edgebox was updating them`,
          'run `edgebox apply` again; it re-reads the node',
        );
      }
      throw this.explain(e, { verb: 'patch', resource: NODE_KIND.resource, target: name });
    }
  }

  async listPods(namespace: string, labelSelector: string): Promise<ObservedPod[]> {
    const list = await this.call({ verb: 'list', resource: POD_KIND.resource, namespace }, () => this.core.listNamespacedPod({ namespace, labelSelector }));
    return list.items.map((p) => plain(p) as ObservedPod);
  }

  private async call<T>(ctx: Omit<RequestContext, 'server'>, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.explain(e, ctx);
    }
  }

  private explain(e: unknown, ctx: Omit<RequestContext, 'server'>): unknown {
    return describeRequestError(e, { ...ctx, server: this.server }) ?? e;
  }
}

function header(ref: ObjectRef) {
  return { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) } };
}

function target(r: { name: string; namespace?: string }): string {
  return r.namespace ? `${r.namespace}/${r.name}` : r.name;
}

/** The client returns model classes with Date fields; apply works on the JSON the API speaks. */
function plain<T>(o: T): KubeObject {
  return JSON.parse(JSON.stringify(o)) as KubeObject;
}
