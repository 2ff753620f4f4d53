import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { planBox } from '../../src/plan/plan-box.js';
import { KUBE_VIP_IMAGE, KUBE_VIP_KUBECONFIG_PATH } from '../../src/render/kube-vip.js';
import { renderBox } from '../../src/render/render-box.js';
import { labBox } from './render-fixtures.js';

interface PodView {
  metadata: { name: string; namespace: string };
  spec: {
    hostNetwork: boolean;
    containers: { image: string; env: { name: string; value: string }[]; volumeMounts: { mountPath: string }[] }[];
    volumes: { hostPath: { path: string } }[];
  };
}

const withVip = labBox({ apiAddress: '10.0.0.100' });
const files = renderBox(withVip);
const file = (path: string) => files.find((f) => f.path === path);

describe('kube-vip for controlPlane.apiAddress', () => {
  it('writes the static pod for every module that may serve, none for agent-only modules', () => {
    const mayServe = withVip.spec.modules.filter((m) => m.roles.includes('server')).map((m) => `k3s/${m.name}/kube-vip.yaml`);
    expect(files.filter((f) => f.path.endsWith('/kube-vip.yaml')).map((f) => f.path)).toEqual(mayServe.sort());
    expect(withVip.spec.modules.some((m) => !m.roles.includes('server'))).toBe(true);
  });

  it('holds the address in ARP mode with leader election on one Lease, pinned, through the local API server', () => {
    const pod = parse(file('k3s/s1/kube-vip.yaml')!.content) as PodView;
    const env = Object.fromEntries(pod.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    expect(pod.metadata).toMatchObject({ name: 'kube-vip', namespace: 'kube-system' });
    expect(pod.spec.hostNetwork).toBe(true);
    expect(pod.spec.containers[0]!.image).toBe(KUBE_VIP_IMAGE);
    expect(KUBE_VIP_IMAGE).toMatch(/:v\d+\.\d+\.\d+$/);
    expect(env).toMatchObject({
      address: '10.0.0.100',
      vip_arp: 'true',
      cp_enable: 'true',
      svc_enable: 'false',
      vip_leaderelection: 'true',
      vip_leasename: 'plndr-cp-lock',
    });
    // The holder gives the address up (renew deadline) before another may take the Lease (duration).
    expect(Number(env.vip_renewdeadline)).toBeLessThan(Number(env.vip_leaseduration));
    expect(pod.spec.volumes[0]!.hostPath.path).toBe(KUBE_VIP_KUBECONFIG_PATH);
    expect(pod.spec.containers[0]!.volumeMounts[0]!.mountPath).toBe('/etc/kubernetes/admin.conf');
  });

  it('gives kube-vip an identity that may hold its Lease', () => {
    const docs = file('manifests/32-kube-vip.yaml')!
      .content.split('\n---\n')
      .map((d) => parse(d) as { kind: string; metadata: { name: string; namespace?: string }; rules?: { resources: string[]; verbs: string[] }[] });
    expect(docs.map((d) => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`)).toEqual([
      'ServiceAccount/kube-system/kube-vip',
      'ClusterRole//kube-vip',
      'ClusterRoleBinding//kube-vip',
      'Role/kube-system/kube-vip',
      'RoleBinding/kube-system/kube-vip',
    ]);
    expect(docs[3]!.rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update'] }]);
  });

  it('renders no kube-vip without an API address, and the README says how agents reach the API', () => {
    const plain = renderBox(labBox());
    expect(plain.some((f) => f.path.includes('kube-vip'))).toBe(false);
    expect(plain.find((f) => f.path === 'README.md')!.content).toContain("K3s's client-side\nload balancer");
  });

  it.each([
    [undefined, 'client-load-balancer'],
    ['10.0.0.100', 'kube-vip'],
  ] as const)('the plan says how modules reach the API (apiAddress %s: %s)', (apiAddress, via) => {
    const plan = planBox(labBox(apiAddress ? { apiAddress } : {}));
    expect(plan.controlPlane.apiAccess.via).toBe(via);
    expect(plan.controlPlane.apiAccess.detail).toContain(via === 'kube-vip' ? '10.0.0.100' : 'client-side load balancer');
  });
});
