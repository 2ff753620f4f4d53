import { describe, expect, it } from 'vitest';
import { kindInfo } from '../../src/apply/kinds.js';
import { AGENT_POLICY_NAME, AGENT_USERNAME_PREFIX, agentServiceAccount, agentUsername } from '../../src/contract/identity.js';
import { POLICY_VALIDATIONS, POLICY_VARIABLES, renderAgentPolicy } from '../../src/render/agent-policy.js';
import { renderAgentRbac, writableLeases, writableNodes } from '../../src/render/agent-rbac.js';
import { parseSpec } from '../../src/spec/load.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { EXAMPLES, example } from './render-fixtures.js';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
type Obj = ReturnType<typeof renderAgentRbac>[number] & { rules?: Rule[]; subjects?: { name: string }[]; roleRef?: { name: string }; spec?: any };

/** Two servers that may serve, one agent-only motor board holding the exclusive bus, one more on it, a shared camera. */
const box: BoxSpec = parseSpec(
  `
apiVersion: edgebox.dev/v1alpha1
kind: EdgeBox
metadata: { name: cell }
spec:
  controlPlane: { servers: 1 }
  modules:
    - { name: s1, hardware: rpi-cm4-8gb, address: 10.0.0.1 }
    - { name: s2, hardware: rpi-cm4-8gb, address: 10.0.0.2, roles: [server, agent] }
    - { name: motor, hardware: rpi-cm4-2gb, address: 10.0.0.3, roles: [agent], capabilities: [can] }
    - { name: arm, hardware: rpi-cm4-2gb, address: 10.0.0.4, roles: [agent], capabilities: [can] }
  peripherals:
    - { name: bus, kind: can, attachedTo: [motor, s2], exclusive: true }
    - { name: cam, kind: camera, attachedTo: [arm] }
`,
  'cell.yaml',
).box;
const objects = renderAgentRbac(box) as Obj[];
const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;

describe('one identity per module (renderAgentRbac)', () => {
  it('renders one ServiceAccount, ClusterRole, Role and their bindings per module, the shared read role, and the policy', () => {
    const per = (m: string) => [
      `ServiceAccount/edgebox-system/edgebox-agent-${m}`,
      `ClusterRole//edgebox-agent-${m}`,
      `ClusterRoleBinding//edgebox-agent-${m}`,
      `Role/edgebox-system/edgebox-agent-${m}`,
      `RoleBinding/edgebox-system/edgebox-agent-${m}`,
    ];
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual([
      'ClusterRole//edgebox-agent',
      'ClusterRoleBinding//edgebox-agent',
      ...['s1', 's2', 'motor', 'arm'].flatMap(per),
      'ValidatingAdmissionPolicy//edgebox-agents',
      'ValidatingAdmissionPolicyBinding//edgebox-agents',
    ]);
    // Every object is the box's: apply prunes them by these labels, render files them as the agent's.
    for (const o of objects) expect(o.metadata.labels).toMatchObject({ 'edgebox.dev/box': 'cell', 'app.kubernetes.io/component': 'agent' });
  });

  it.each(['s1', 's2', 'motor', 'arm'])("binds %s's own roles to its own ServiceAccount only", (m) => {
    for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
      const b = find(kind, agentServiceAccount(m));
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: `edgebox-agent-${m}`, namespace: 'edgebox-system' }]);
      expect(b.roleRef!.name).toBe(`edgebox-agent-${m}`);
    }
  });

  it.each([
    ['an agent-only motor board writes its own Node only', 'motor', ['motor']],
    ['a module that may serve also the Nodes of the others that may serve (member removal)', 's1', ['s1', 's2']],
    ['the other server-eligible module likewise', 's2', ['s2', 's1']],
  ])('%s', (_t, m, nodes) => {
    const module = box.spec.modules.find((x) => x.name === m)!;
    expect(writableNodes(box, module)).toEqual(nodes);
    expect(find('ClusterRole', agentServiceAccount(m)).rules).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['update', 'patch'], resourceNames: nodes },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'], resourceNames: [m] },
    ]);
  });

  it.each([
    ['motor', ['agent-motor', 'peripheral-bus']],
    ['s2', ['agent-s2', 'peripheral-bus']],
    // A shared (not exclusive) peripheral has no ownership Lease.
    ['arm', ['agent-arm']],
    ['s1', ['agent-s1']],
  ])('%s updates only its own view Lease and the ownership Leases of its exclusive peripherals', (m, leases) => {
    expect(
      writableLeases(
        box,
        box.spec.modules.find((x) => x.name === m)!,
      ),
    ).toEqual(leases);
    const rules = find('Role', agentServiceAccount(m)).rules!;
    expect(rules.find((r) => r.verbs.includes('update'))).toEqual({
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      verbs: ['get', 'update'],
      resourceNames: leases,
    });
  });

  it.each(EXAMPLES)('%s: no wildcard, and every write but create is scoped by resourceNames', (name) => {
    for (const o of renderAgentRbac(example(name)) as Obj[]) {
      for (const r of o.rules ?? []) {
        expect([...r.verbs, ...r.resources, ...r.apiGroups]).not.toContain('*');
        // Create cannot be scoped by name (the admission policy restricts it); reads are the box's own.
        const writes = r.verbs.filter((v) => !['get', 'list', 'create'].includes(v));
        if (writes.length && !(r.resources.includes('events') && r.verbs.includes('create')))
          expect(r.resourceNames, `${o.metadata.name} ${r.resources[0]}`).toBeDefined();
      }
    }
  });

  it('no agent may list or delete pods, delete anything, or write another namespace than edgebox-system', () => {
    const rules = objects.flatMap((o) => o.rules ?? []);
    expect(rules.flatMap((r) => r.verbs)).not.toContain('delete');
    expect(rules.filter((r) => r.resources.includes('pods'))).toEqual([]);
    for (const o of objects.filter((x) => x.kind === 'Role' || x.kind === 'RoleBinding')) expect(o.metadata.namespace).toBe('edgebox-system');
  });
});

describe('the agents admission policy (renderAgentPolicy)', () => {
  const [policy, binding] = renderAgentPolicy() as Obj[];

  it('matches every agent by its user name and nobody else; fails closed; the binding denies', () => {
    expect(policy!.metadata.name).toBe(AGENT_POLICY_NAME);
    expect(policy!.spec.failurePolicy).toBe('Fail');
    expect(policy!.spec.matchConditions).toEqual([{ name: 'edgebox-agent', expression: `request.userInfo.username.startsWith('${AGENT_USERNAME_PREFIX}')` }]);
    expect(binding!.spec).toEqual({ policyName: AGENT_POLICY_NAME, validationActions: ['Deny'] });
    expect(policy!.spec.matchConstraints.resourceRules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes', 'nodes/status'] },
      { apiGroups: ['coordination.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['leases'] },
    ]);
  });

  it.each(['motor', 's1', 'a-long-module-name-42'])('reads module %s back from its user name', (m) => {
    // The `module` variable is a substring of the user name from the prefix's length: the two must agree.
    const start = Number(/substring\((\d+)\)/.exec(POLICY_VARIABLES.find((v) => v.name === 'module')!.expression)![1]);
    expect(agentUsername(m).substring(start)).toBe(m);
    expect(agentUsername(m)).toBe(`system:serviceaccount:edgebox-system:edgebox-agent-${m}`);
  });

  it('every validation refuses with a reason a person can act on, and names only variables it declares', () => {
    const declared = new Set(POLICY_VARIABLES.map((v) => v.name));
    for (const v of [...POLICY_VALIDATIONS, ...POLICY_VARIABLES.map((x) => ({ ...x, message: 'variable', reason: 'Forbidden' }))]) {
      expect(v.message.length).toBeGreaterThan(0);
      expect(v.reason).toBe('Forbidden');
      for (const [, name] of v.expression.matchAll(/variables\.(\w+)/g)) expect(declared, `${name} in ${v.expression}`).toContain(name);
    }
  });

  it('apply knows both kinds, the policy before its binding', () => {
    const policyOrder = kindInfo({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy' }).order;
    expect(kindInfo({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding' }).order).toBeGreaterThan(policyOrder);
  });
});
