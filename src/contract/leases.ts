/** The namespaces and Lease names the agents, the controller and the readers of their Leases share. */

/** Where agents and the controller keep their Leases. */
export const SYSTEM_NAMESPACE = 'edgebox-system';

/** A view not renewed for this long is stale: the controller does not count it. */
export const AGENT_LEASE_SECONDS = 3;

export const agentLeaseName = (module: string): string => `agent-${module}`;

/** Where each node's kubelet renews its own Lease (its heartbeat to the control plane). */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
