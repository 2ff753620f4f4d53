import type { ApiTarget } from './kubeconfig.js';

/** An ApiTarget as JSON: the PEM buffers in base64. */
export interface ApiTargetJson extends Omit<ApiTarget, 'ca' | 'cert' | 'key'> {
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * How `agent config` hands the target it read from the kubeconfig to `agent run` over a pipe: the
 * daemon then never loads the YAML library that reading a kubeconfig needs (src/cli/commands/agent.ts).
 */
export function apiTargetToJson(t: ApiTarget): ApiTargetJson {
  const { ca, cert, key, ...rest } = t;
  return {
    ...rest,
    ...(ca ? { ca: ca.toString('base64') } : {}),
    ...(cert ? { cert: cert.toString('base64') } : {}),
    ...(key ? { key: key.toString('base64') } : {}),
  };
}

export function apiTargetFromJson(j: ApiTargetJson): ApiTarget {
  const { ca, cert, key, ...rest } = j;
  return {
    ...rest,
    ...(ca ? { ca: Buffer.from(ca, 'base64') } : {}),
    ...(cert ? { cert: Buffer.from(cert, 'base64') } : {}),
    ...(key ? { key: Buffer.from(key, 'base64') } : {}),
  };
}
