import type { KubeObject } from './kube-object.js';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/**
 * One identity: a ServiceAccount with a ClusterRole and a Role in its namespace, each bound to
 * it, all named after it; in the order apply creates them.
 */
export function serviceAccountRbac(opts: {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  clusterRules: PolicyRule[];
  namespacedRules: PolicyRule[];
}): KubeObject[] {
  const { name, namespace } = opts;
  const meta = (ns?: string) => ({ name, ...(ns ? { namespace: ns } : {}), labels: { ...opts.labels } });
  const subjects = [{ kind: 'ServiceAccount', name, namespace }];
  const roleRef = (kind: 'ClusterRole' | 'Role') => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name });
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(namespace) },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(), rules: opts.clusterRules },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: meta(), roleRef: roleRef('ClusterRole'), subjects },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(namespace), rules: opts.namespacedRules },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(namespace), roleRef: roleRef('Role'), subjects },
  ];
}
