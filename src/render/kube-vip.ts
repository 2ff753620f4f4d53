import { isIPv6 } from 'node:net';
import type { BoxSpec, ModuleSpec } from '../spec/schema.js';
import { API_PORT } from './k3s-config.js';
import { COMPONENT_LABEL } from './controller.js';
import { boxLabels, type KubeObject } from './kube-object.js';
import { serviceAccountRbac } from './rbac.js';

/**
 * kube-vip holds `controlPlane.apiAddress` on one server at a time: ARP mode, leader election
 * through a Lease (docs/decisions/0010-api-address.md). Pinned, so a re-render never changes
 * the image under a running box; raise it deliberately.
 */
export const KUBE_VIP_IMAGE = 'ghcr.io/kube-vip/kube-vip:v1.0.4';
export const KUBE_VIP_NAME = 'kube-vip';
export const KUBE_VIP_NAMESPACE = 'kube-system';
/** The one Lease every kube-vip instance competes for (kube-vip's default control-plane lock). */
export const KUBE_VIP_LEASE = 'plndr-cp-lock';
/** Where K3s's kubelet reads static pods, on servers and agents alike. */
export const POD_MANIFESTS_DIR = '/var/lib/rancher/k3s/agent/pod-manifests';
export const KUBE_VIP_MANIFEST_FILE = 'kube-vip.yaml';
/** The kube-vip ServiceAccount's kubeconfig on the module; the README says how to make it. */
export const KUBE_VIP_KUBECONFIG_PATH = '/etc/rancher/k3s/kube-vip.kubeconfig';

/**
 * Leader election timings, in s. The holder stops announcing the address when it cannot renew
 * within the renew deadline (3 s), which is before anyone else may take the Lease (5 s after
 * its last renewal): two modules never answer ARP for the address at once by the Lease's rules.
 */
const LEASE = { duration: 5, renewDeadline: 3, retryPeriod: 1 } as const;

/** Modules that get the static pod: every module that may serve (the guardian may promote any). */
export function kubeVipModules(box: BoxSpec): ModuleSpec[] {
  return box.spec.controlPlane.apiAddress ? box.spec.modules.filter((m) => m.roles.includes('server')) : [];
}

/**
 * The static pod of one module. Its kubeconfig names the module's own API server
 * (https://127.0.0.1:6443), never the address it holds: a server cut off from the etcd quorum
 * cannot write the Lease through its own API server, so it loses the election and lets the
 * address go; a module serving as an agent has no API server there and never takes part.
 */
export function renderKubeVipPod(box: BoxSpec): KubeObject {
  const address = box.spec.controlPlane.apiAddress;
  if (!address) throw new Error('kube-vip needs controlPlane.apiAddress');
  const env = (name: string, value: string) => ({ name, value });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    // Not the box's labels: the mirror pod is no object apply owns or prunes.
    metadata: { name: KUBE_VIP_NAME, namespace: KUBE_VIP_NAMESPACE, labels: { 'app.kubernetes.io/name': KUBE_VIP_NAME } },
    spec: {
      hostNetwork: true,
      // Static pods start before the cluster's DNS; the kubeconfig uses an address, not a name.
      containers: [
        {
          name: KUBE_VIP_NAME,
          image: KUBE_VIP_IMAGE,
          args: ['manager'],
          env: [
            env('address', address),
            env('port', String(API_PORT)),
            env('vip_subnet', isIPv6(address) ? '128' : '32'),
            env('vip_arp', 'true'),
            env('cp_enable', 'true'),
            env('cp_namespace', KUBE_VIP_NAMESPACE),
            // No Service load balancing: with it kube-vip runs a second election whose winner
            // may announce the same address (kube-vip#665, #947).
            env('svc_enable', 'false'),
            env('vip_leaderelection', 'true'),
            env('vip_leasename', KUBE_VIP_LEASE),
            env('vip_leaseduration', String(LEASE.duration)),
            env('vip_renewdeadline', String(LEASE.renewDeadline)),
            env('vip_retryperiod', String(LEASE.retryPeriod)),
          ],
          securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } },
          volumeMounts: [{ name: 'kubeconfig', mountPath: '/etc/kubernetes/admin.conf', readOnly: true }],
        },
      ],
      volumes: [{ name: 'kubeconfig', hostPath: { path: KUBE_VIP_KUBECONFIG_PATH, type: 'File' } }],
    },
  };
}

/**
 * kube-vip's identity: its Lease in kube-system (the election) and reading Nodes (it resolves
 * its own). Nothing for Services: svc_enable is off.
 */
export function renderKubeVipRbac(box: BoxSpec): KubeObject[] {
  if (!box.spec.controlPlane.apiAddress) return [];
  return serviceAccountRbac({
    name: KUBE_VIP_NAME,
    namespace: KUBE_VIP_NAMESPACE,
    labels: { ...boxLabels(box), [COMPONENT_LABEL]: KUBE_VIP_NAME },
    clusterRules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }],
    namespacedRules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update'] }],
  });
}
