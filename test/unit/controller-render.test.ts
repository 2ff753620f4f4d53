import { dumpYaml, loadYaml } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { kindInfo } from '../../src/apply/kinds.js';
import { planApply } from '../../src/apply/plan.js';
import { desiredState } from '../../src/apply/apply.js';
import { CONTROLLER_IMAGE, EDGEBOX_VERSION, renderController, SPEC_ENV } from '../../src/render/controller.js';
import { parseSpec } from '../../src/spec/load.js';
import { canonical, EXAMPLES, example } from './render-fixtures.js';

type Obj = ReturnType<typeof renderController>[number] & { rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[]; spec?: any };

const objects = renderController(example('turing-pi-2')) as Obj[];
const find = (kind: string, namespace?: string) => objects.find((o) => o.kind === kind && o.metadata.namespace === namespace)!;

describe('renderController', () => {
  it('renders the namespace, the CRD, the ServiceAccount, its RBAC and the Deployment', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual([
      'Namespace//edgebox-system',
      'CustomResourceDefinition//edgeboxes.edgebox.dev',
      'ServiceAccount/edgebox-system/edgebox-controller',
      'ClusterRole//edgebox-controller',
      'ClusterRoleBinding//edgebox-controller',
      'Role/edgebox-system/edgebox-controller',
      'RoleBinding/edgebox-system/edgebox-controller',
      'Role/kube-node-lease/edgebox-controller',
      'RoleBinding/kube-node-lease/edgebox-controller',
      'Deployment/edgebox-system/edgebox-controller',
    ]);
  });

  it('grants only the verbs the controller uses: no wildcard, no cluster-admin, Leases per namespace', () => {
    const verbs = (o: Obj) => Object.fromEntries(o.rules!.flatMap((r) => r.resources.map((res) => [`${r.apiGroups[0] || 'core'}/${res}`, r.verbs])));
    expect(verbs(find('ClusterRole'))).toEqual({
      'core/nodes': ['list', 'watch', 'patch'],
      'core/pods': ['list', 'watch', 'delete'],
      'core/events': ['create'],
      'apps/deployments': ['get'],
      'apps/statefulsets': ['get'],
      'edgebox.dev/edgeboxes': ['get'],
      'edgebox.dev/edgeboxes/status': ['update'],
    });
    expect(verbs(find('Role', 'edgebox-system'))).toEqual({ 'coordination.k8s.io/leases': ['get', 'list', 'watch', 'create', 'update', 'patch'] });
    expect(verbs(find('Role', 'kube-node-lease'))).toEqual({ 'coordination.k8s.io/leases': ['list', 'watch'] });
    for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
      for (const b of objects.filter((o) => o.kind === kind) as { subjects?: unknown }[]) {
        expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'edgebox-controller', namespace: 'edgebox-system' }]);
      }
    }
  });

  it('runs two leader-elected replicas of the versioned image, the spec in their environment', () => {
    const d = find('Deployment', 'edgebox-system');
    expect(d.spec.replicas).toBe(2);
    expect(CONTROLLER_IMAGE).toBe(`ghcr.io/edgebox/edgebox:${EDGEBOX_VERSION}`);
    const c = d.spec.template.spec.containers[0];
    expect(c.image).toBe(CONTROLLER_IMAGE);
    expect(d.spec.template.spec.serviceAccountName).toBe('edgebox-controller');
    expect(c.args).toEqual(['controller', '--metrics-address', '0.0.0.0', '--metrics-port', '7948']);
    const spec = c.env.find((e: { name: string }) => e.name === SPEC_ENV).value as string;
    expect(parseSpec(spec, 'env').box).toEqual(example('turing-pi-2'));
  });

  it("the CRD keeps the controller's failovers in the status", () => {
    const crd = find('CustomResourceDefinition');
    expect(crd.spec.versions[0].schema.openAPIV3Schema.properties.status.properties.failovers).toEqual({
      type: 'array',
      items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    });
  });

  it.each(EXAMPLES)("%s: every object but the CRD survives a round trip through the client's typed models", (name) => {
    for (const o of renderController(example(name)).filter((x) => x.kind !== 'CustomResourceDefinition')) {
      const typed = loadYaml<object>(JSON.stringify(o));
      expect(canonical(parse(dumpYaml(typed))), `${o.kind}/${o.metadata.name}`).toBe(canonical(o));
    }
  });

  it('apply knows every kind, creates the CRD and namespaces first and the Deployment after its RBAC', () => {
    for (const o of objects) expect(() => kindInfo(o)).not.toThrow();
    const box = example('turing-pi-2');
    const actions = planApply({ desired: desiredState(box), observed: { objects: [], nodes: [] }, dryRunResults: new Map() })
      .filter((a) => a.type === 'create')
      .map((a) => (a.type === 'create' ? `${a.ref.kind}/${a.ref.name}` : ''));
    const at = (k: string) => actions.indexOf(k);
    expect(at('CustomResourceDefinition/edgeboxes.edgebox.dev')).toBeLessThan(at('ServiceAccount/edgebox-controller'));
    expect(at('Namespace/edgebox-system')).toBeLessThan(at('ServiceAccount/edgebox-controller'));
    expect(at('ClusterRoleBinding/edgebox-controller')).toBeLessThan(at('Deployment/edgebox-controller'));
    expect(at('ServiceAccount/edgebox-controller')).toBeLessThan(at('Deployment/edgebox-controller'));
  });
});
