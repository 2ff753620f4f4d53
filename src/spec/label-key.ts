import { PREFIX } from '../contract/labels.js';

/** A label key's problem, as the schema reports it (src/spec/schema.ts adds the path). */
export interface LabelKeyProblem {
  code: 'spec.label-key' | 'spec.reserved-label';
  message: string;
  hint: string;
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Label keys the kubelet may set on its own node (k8s.io/kubernetes pkg/kubelet/apis,
 * `IsKubeletLabel`); with any other `kubernetes.io` or `k8s.io` key in `--node-labels` the
 * kubelet refuses to start.
 */
const KUBELET_KEYS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/arch',
  'kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'failure-domain.beta.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
]);
const KUBELET_PREFIXES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];

const within = (prefix: string, domain: string) => prefix === domain || prefix.endsWith(`.${domain}`);

/**
 * What is wrong with a node label key of the spec, if anything: the Kubernetes qualified-name
 * rules (an optional DNS-subdomain prefix of at most 253 characters, `/`, a name of at most 63),
 * keys under `edgebox.dev` (edgebox's own: a user label there would override what edgebox derives,
 * such as a capability), and `kubernetes.io`/`k8s.io` keys the kubelet may not set itself.
 */
export function labelKeyProblem(key: string): LabelKeyProblem | undefined {
  const parts = key.split('/');
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]!];
  const bad = (message: string, hint: string): LabelKeyProblem => ({ code: 'spec.label-key', message, hint });
  if (parts.length > 2) return bad(`label key '${key}' has more than one '/'`, "write it as 'prefix/name', e.g. example.com/rack");
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)))
    return bad(`label key prefix '${prefix}' is not a DNS subdomain`, 'use lowercase letters, digits, "-" and "." (at most 253), e.g. example.com');
  if (name === undefined || name.length > 63 || !NAME.test(name))
    return bad(
      `label key name '${name ?? ''}' is not a valid Kubernetes label name`,
      'use at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
    );
  if (prefix !== undefined && within(prefix, PREFIX))
    return {
      code: 'spec.reserved-label',
      message: `label key '${key}' is under ${PREFIX}/, which edgebox sets itself`,
      hint: `edgebox derives its ${PREFIX}/ labels (module, hardware, cap.*, peripheral.*, role.*) from the spec; use a prefix of your own, e.g. example.com/${name}`,
    };
  if (
    prefix !== undefined &&
    (within(prefix, 'kubernetes.io') || within(prefix, 'k8s.io')) &&
    !KUBELET_KEYS.has(key) &&
    !KUBELET_PREFIXES.some((p) => within(prefix, p))
  )
    return {
      code: 'spec.reserved-label',
      message: `label key '${key}' is under ${prefix}/, which a kubelet may not set on its own node`,
      hint: 'the kubelet refuses to start with it; use node.kubernetes.io/<name> or a prefix of your own',
    };
  return undefined;
}
