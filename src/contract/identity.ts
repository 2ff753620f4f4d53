import { SYSTEM_NAMESPACE } from './leases.js';

/**
 * Each module's agent has an identity of its own (docs/decisions/0005-one-identity-per-module.md):
 * the ServiceAccount `edgebox-agent-<module>` in `edgebox-system`. Render writes its RBAC and the
 * admission policy that reads the module back from the request's user name; the local box mints
 * its tokens.
 */

export const AGENT_SERVICE_ACCOUNT_PREFIX = 'edgebox-agent-';

export const agentServiceAccount = (module: string): string => `${AGENT_SERVICE_ACCOUNT_PREFIX}${module}`;

/** What the API server calls a module's agent: `system:serviceaccount:edgebox-system:edgebox-agent-<module>`. */
export const AGENT_USERNAME_PREFIX = `system:serviceaccount:${SYSTEM_NAMESPACE}:${AGENT_SERVICE_ACCOUNT_PREFIX}`;

export const agentUsername = (module: string): string => `${AGENT_USERNAME_PREFIX}${module}`;

/** The ValidatingAdmissionPolicy (and its binding) that keeps every agent to its own objects. */
export const AGENT_POLICY_NAME = 'edgebox-agents';
