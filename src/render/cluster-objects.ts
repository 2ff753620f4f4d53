import type { BoxSpec } from '../spec/schema.js';
import { renderAgentRbac } from './agent-rbac.js';
import { renderController } from './controller.js';
import { renderKubeVipRbac } from './kube-vip.js';
import { renderManifests, type KubeObject } from './manifests.js';

/**
 * Every Kubernetes object of a box that lives in the cluster (no host files): the workloads'
 * manifests, the controller, the agents' and kube-vip's identities. What `render` writes under
 * manifests/, `apply` applies and `render --gitops` puts in a repository.
 */
export function renderClusterObjects(box: BoxSpec): KubeObject[] {
  return [...renderManifests(box), ...renderController(box), ...renderAgentRbac(box), ...renderKubeVipRbac(box)];
}
