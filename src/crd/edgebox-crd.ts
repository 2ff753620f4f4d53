import { ApiextensionsV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { failure } from '../diagnostics/diagnostic.js';
import { FIELD_MANAGER } from '../contract/labels.js';
import { API_VERSION, KIND, type BoxSpec } from '../spec/schema.js';

export const GROUP = 'edgebox.dev';
export const VERSION = 'v1alpha1';
export const PLURAL = 'edgeboxes';
export const CRD_NAME = `${PLURAL}.${GROUP}`;

const preserved = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } as const;

/**
 * The EdgeBox custom resource: one per box, cluster-scoped because a box is the whole cluster
 * (and a namespace would invite a second box object in another one). Its group, version and kind
 * are the box spec file's own, so `spec` is the file's `spec` as `edgebox validate` defaults it;
 * the schema leaves it open because the zod schema in src/spec is the one that validates it.
 * `status` is written only through the status subresource.
 * Plain JSON rather than the client's V1CustomResourceDefinition: the patch call sends its body
 * unserialized, and the model's `x_kubernetes_*` property names are not the API's.
 */
export const EDGEBOX_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: CRD_NAME },
  spec: {
    group: GROUP,
    scope: 'Cluster',
    names: { plural: PLURAL, singular: 'edgebox', kind: KIND, listKind: `${KIND}List`, shortNames: ['ebox'] },
    versions: [
      {
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          {
            name: 'Hardware',
            type: 'string',
            description: 'whether discovery agrees with the spec',
            jsonPath: '.status.conditions[?(@.type=="HardwareMatchesSpec")].status',
          },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: preserved,
              status: {
                type: 'object',
                properties: {
                  observedGeneration: { type: 'integer', format: 'int64' },
                  conditions: {
                    type: 'array',
                    'x-kubernetes-list-type': 'map',
                    'x-kubernetes-list-map-keys': ['type'],
                    items: {
                      type: 'object',
                      required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
                      properties: {
                        type: { type: 'string' },
                        status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
                        observedGeneration: { type: 'integer', format: 'int64' },
                        lastTransitionTime: { type: 'string', format: 'date-time' },
                        reason: { type: 'string' },
                        message: { type: 'string' },
                      },
                    },
                  },
                  findings: {
                    type: 'array',
                    description: 'Disagreements between the spec and the box; each source replaces only its own.',
                    items: {
                      type: 'object',
                      required: ['code', 'severity', 'module', 'message', 'source'],
                      properties: {
                        code: { type: 'string' },
                        severity: { type: 'string', enum: ['error', 'warning', 'info'] },
                        module: { type: 'string' },
                        message: { type: 'string' },
                        hint: { type: 'string' },
                        source: { type: 'string' },
                      },
                    },
                  },
                  // Per-module and per-peripheral state for the agent's later work (heartbeats,
                  // fencing, peripheral ownership); open until those define it.
                  modules: { type: 'array', items: preserved },
                  peripherals: { type: 'array', items: preserved },
                  // The controller's last failovers (src/controller/status.ts); declared so the
                  // API server keeps them instead of pruning an unknown field.
                  failovers: { type: 'array', items: preserved },
                  // The guardian's voters, leader, pending change and history (src/controller/guardian/status.ts).
                  controlPlane: preserved,
                },
              },
            },
          },
        },
      },
    ],
  },
};

export interface EnsureOptions {
  /** How long to wait for the API server to establish the CRD. Default: 30 s. */
  timeoutMs?: number;
  /** Default: setTimeout; tests inject their own. */
  sleep?: (ms: number) => Promise<void>;
}

const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

/**
 * The box's EdgeBox object as edgebox applies it: the spec file's `spec`, no `status` (written
 * through the subresource by the controller, the agents and discovery, so an apply never touches
 * it), and no ownership labels, so that apply's prune never deletes it with its status history
 * and discovery, which applies the same object with the same field manager, agrees on every field.
 */
export function edgeBoxObject(box: BoxSpec): { apiVersion: string; kind: string; metadata: { name: string }; spec: BoxSpec['spec'] } {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: box.metadata.name }, spec: box.spec };
}

/**
 * Waits until the API server has established the EdgeBox CRD: a new CRD's resource is served
 * only then, and an EdgeBox applied before that 404s.
 */
export async function waitForCrdEstablished(kc: KubeConfig, opts: EnsureOptions = {}): Promise<void> {
  const { timeoutMs = 30_000, sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) } = opts;
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const crd = await ext.readCustomResourceDefinition({ name: CRD_NAME });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    if (Date.now() > deadline) {
      throw failure(
        'crd.not-established',
        `the API server has not established ${CRD_NAME} after ${timeoutMs / 1000} s`,
        `look at its conditions: kubectl get crd ${CRD_NAME} -o yaml`,
      );
    }
    await sleep(200);
  }
}

/**
 * Installs the EdgeBox CRD and creates or updates the box's EdgeBox object from the spec. Both
 * go by server-side apply with edgebox's field manager, so running it again changes nothing.
 */
export async function ensureEdgeBox(kc: KubeConfig, box: BoxSpec, opts: EnsureOptions = {}): Promise<void> {
  await kc
    .makeApiClient(ApiextensionsV1Api)
    .patchCustomResourceDefinition({ name: CRD_NAME, body: EDGEBOX_CRD, fieldManager: FIELD_MANAGER, force: true }, apply);
  await waitForCrdEstablished(kc, opts);
  await kc.makeApiClient(CustomObjectsApi).patchClusterCustomObject(
    {
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      name: box.metadata.name,
      body: edgeBoxObject(box),
      fieldManager: FIELD_MANAGER,
      force: true,
    },
    apply,
  );
}
