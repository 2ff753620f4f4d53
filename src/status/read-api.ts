import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../crd/edgebox-crd.js';
import { failure } from '../diagnostics/diagnostic.js';
import { describeRequestError } from '../kube/request-errors.js';
import { isNotFound } from '../kube/client.js';
import { boxSchema, type BoxSpec } from '../spec/schema.js';
import type { EdgeBoxStatusBody } from './box-status.js';
import { withTimeout, API_TIMEOUT_MS } from '../base/timeout.js';

export interface EdgeBoxRead {
  box: BoxSpec;
  status: EdgeBoxStatusBody | undefined;
}

interface EdgeBoxObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
  spec?: unknown;
  status?: EdgeBoxStatusBody;
}

/** The EdgeBox named `name`, or the only one in the cluster. */
export async function readEdgeBox(kc: KubeConfig, name?: string): Promise<EdgeBoxRead> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const ctx = { server: kc.getCurrentCluster()?.server ?? '?', verb: name ? 'get' : 'list', resource: `${PLURAL}.${GROUP}`, ...(name ? { target: name } : {}) };
  let obj: EdgeBoxObject;
  try {
    if (name)
      obj = (await withTimeout(
        api.getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name }),
        API_TIMEOUT_MS,
        'the API server',
      )) as EdgeBoxObject;
    else {
      const list = (await withTimeout(api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }), API_TIMEOUT_MS, 'the API server')) as {
        items?: EdgeBoxObject[];
      };
      const items = list.items ?? [];
      if (items.length !== 1) {
        throw failure(
          'status.which-box',
          items.length
            ? `the cluster has ${items.length} EdgeBox objects: ${items.map((i) => i.metadata?.name).join(', ')}`
            : 'the cluster has no EdgeBox object',
          items.length ? 'pass --box <name>' : 'run `edgebox apply <spec>` first (it creates the EdgeBox object)',
        );
      }
      obj = items[0]!;
    }
  } catch (e) {
    if (name && isNotFound(e))
      throw failure(
        'status.no-edgebox',
        `the cluster has no EdgeBox ${name}`,
        `run \`edgebox apply <spec>\` first (it creates the EdgeBox object the controller reports on)`,
      );
    throw describeRequestError(e, ctx) ?? e;
  }
  const parsed = boxSchema.safeParse({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata?.name }, spec: obj.spec });
  if (!parsed.success) {
    throw failure(
      'status.bad-edgebox',
      `the EdgeBox ${obj.metadata?.name ?? ''} in the cluster does not hold a valid spec: ${parsed.error.issues[0]?.message ?? ''}`,
      'apply the spec again with `edgebox apply <spec>`',
    );
  }
  return { box: parsed.data, status: obj.status };
}
