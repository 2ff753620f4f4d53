import { createHash } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { describeRequestError, type RequestContext } from '../kube/request-errors.js';
import { ensureEdgeBox } from '../crd/edgebox-crd.js';
import { recordFindings } from '../crd/findings-status.js';
import { inputError } from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/suggest.js';
import { LABELS } from '../contract/labels.js';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import type { Discovery } from './discovery/types.js';
import { compareWithSpec, eventReason, type Finding } from './findings.js';
import { planNodeUpdate } from './node-plan.js';
import { apiStatus, isNotFound } from '../kube/client.js';
import { PREFIX } from '../contract/labels.js';

/** The field manager of the agent's writes, distinct from `edgebox apply`'s. */
export const AGENT_FIELD_MANAGER = 'edgebox-agent';
/** Events about cluster-scoped objects (nodes) go to `default`, as the kubelet's do. */
const EVENT_NAMESPACE = 'default';

export interface PublishOptions {
  kc: KubeConfig;
  box: BoxSpec;
  /** The node of the module this agent runs on. */
  node: string;
  discovery: Discovery;
  /** Default: the clock. */
  now?: () => Date;
}

export interface PublishReport {
  node: string;
  module: string;
  /** What changed on the node (`+ label ...`, `+ resource ...`); empty when it already showed this. */
  changes: string[];
  /** This module's discovery findings, as now in the EdgeBox status. */
  findings: Finding[];
  /** Reasons of the Events raised (one per finding the status did not have yet). */
  events: string[];
}

/**
 * Publishes one discovery of one module: labels and extended resources on its node, findings in
 * the EdgeBox status (creating the CRD and object if this is the first), an Event per new finding.
 * Each step first checks whether it is already done, so publishing the same discovery twice
 * writes nothing the second time.
 */
export async function publish({ kc, box, node: nodeName, discovery, now = () => new Date() }: PublishOptions): Promise<PublishReport> {
  const server = kc.getCurrentCluster()?.server ?? '(no server)';
  const call = async <T>(ctx: Omit<RequestContext, 'server'>, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw describeRequestError(e, { server, ...ctx }) ?? e;
    }
  };
  const core = kc.makeApiClient(CoreV1Api);

  const node = await call({ verb: 'get', resource: 'nodes', target: nodeName }, async () => {
    try {
      return await core.readNode({ name: nodeName });
    } catch (e) {
      if (isNotFound(e)) {
        throw inputError(
          'agent.node-not-found',
          `there is no node '${nodeName}' in the cluster at ${server}`,
          'pass the name the module registered with (kubectl get nodes); it registers when k3s starts on the module',
        );
      }
      throw e;
    }
  });
  const m = moduleOf(box, node);

  const plan = planNodeUpdate(node, box, m, discovery);
  if (Object.keys(plan.labels).length || Object.keys(plan.annotations).length) {
    await call({ verb: 'patch', resource: 'nodes', target: nodeName }, () =>
      core.patchNode(
        {
          name: nodeName,
          fieldManager: AGENT_FIELD_MANAGER,
          body: { metadata: { labels: plan.labels, annotations: plan.annotations } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
  }
  if (plan.status.length) {
    // The documented way to advertise extended resources: a JSON patch of the node's status.
    await call({ verb: 'patch', resource: 'nodes/status', target: nodeName }, () =>
      core.patchNodeStatus(
        {
          name: nodeName,
          fieldManager: AGENT_FIELD_MANAGER,
          body: plan.status,
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
    );
  }

  const findings = compareWithSpec(box, m, discovery);
  await call({ verb: 'patch', resource: 'customresourcedefinitions', target: 'edgeboxes.edgebox.dev' }, () => ensureEdgeBox(kc, box));
  const change = await call({ verb: 'update', resource: 'edgeboxes.edgebox.dev/status', target: box.metadata.name }, () =>
    recordFindings(kc, box.metadata.name, { source: 'discovery', module: m.name, findings, now }),
  );

  const events: string[] = [];
  for (const f of change.added) {
    const reason = eventReason(f.code);
    await call({ verb: 'create', resource: 'events', namespace: EVENT_NAMESPACE }, () =>
      recordEvent(core, node, reason, f.message, f.severity === 'info' ? 'Normal' : 'Warning', now()),
    );
    events.push(reason);
  }
  return { node: nodeName, module: m.name, changes: plan.changes, findings, events };
}

/** The module a node plays: the one named like it, else the one its module label names. */
function moduleOf(box: BoxSpec, node: V1Node): ModuleSpec {
  const name = node.metadata?.name ?? '';
  const label = node.metadata?.labels?.[LABELS.module];
  const m = box.spec.modules.find((x) => x.name === name) ?? box.spec.modules.find((x) => x.name === label);
  if (m) return m;
  const names = box.spec.modules.map((x) => x.name);
  throw inputError(
    'agent.unknown-module',
    `node '${name}' is no module of box '${box.metadata.name}'`,
    didYouMean(name, names) ?? `the spec's modules are ${names.join(', ')}; pass the node of one of them, or label the node ${LABELS.module}=<module>`,
  );
}

/**
 * Creates the Event, or counts one more occurrence when the same one exists (the name is a hash
 * of what it says, as the kubelet's event correlator aggregates repeats).
 */
async function recordEvent(core: CoreV1Api, node: V1Node, reason: string, message: string, type: 'Normal' | 'Warning', at: Date): Promise<void> {
  const nodeName = node.metadata?.name ?? '';
  const name = `${nodeName}.${createHash('sha256').update(`${reason}\n${message}`).digest('hex').slice(0, 16)}`;
  const event: CoreV1Event = {
    metadata: { name, namespace: EVENT_NAMESPACE },
    involvedObject: { apiVersion: 'v1', kind: 'Node', name: nodeName, ...(node.metadata?.uid ? { uid: node.metadata.uid } : {}) },
    reason,
    message,
    type,
    source: { component: AGENT_FIELD_MANAGER, host: nodeName },
    reportingComponent: `${PREFIX}/agent`,
    reportingInstance: nodeName,
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  };
  try {
    await core.createNamespacedEvent({ namespace: EVENT_NAMESPACE, body: event });
  } catch (e) {
    if (!(apiStatus(e) === 409)) throw e;
    const existing = await core.readNamespacedEvent({ name, namespace: EVENT_NAMESPACE });
    await core.replaceNamespacedEvent({ name, namespace: EVENT_NAMESPACE, body: { ...existing, count: (existing.count ?? 1) + 1, lastTimestamp: at } });
  }
}
