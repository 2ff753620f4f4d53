import { describe, expect, it } from 'vitest';
import type { V1Node, V1NodeSystemInfo, V1Pod } from '@kubernetes/client-node';
import { podsToEvict } from '../../src/install/drain.js';
import { nodeReadyOn } from '../../src/install/node-ready.js';
import { parseFacts, type ModuleFacts } from '../../src/install/facts.js';
import { agentFiles, agentMarker, type Step } from '../../src/install/plan.js';
import { planUpgrade } from '../../src/install/upgrade-plan.js';
import type { MemberInfo } from '../../src/contract/role-driver.js';
import { installInputs, sha256 } from './install-fixtures.js';
import { labBox } from './render-fixtures.js';

const inputs = installInputs('next', 'agent');
const box = labBox();

/** An installed module running `binary`; servers s1..s3, agents the rest. */
function running(name: string, binary = 'old'): ModuleFacts {
  const f = parseFacts('machine=aarch64\nsystemd=yes', 0, 0);
  const server = name.startsWith('s');
  f.files['/usr/local/bin/k3s'] = binary;
  for (const file of agentFiles(
    box,
    box.spec.modules.find((m) => m.name === name)!,
    inputs,
  ))
    f.files[file.path] = file.sha256;
  f.files[agentMarker('0.1.0')] = sha256('agent\n');
  f.units = { [server ? 'k3s' : 'k3s-agent']: { loaded: true, active: true, enabled: true }, 'edgebox-agent': { loaded: true, active: true, enabled: true } };
  return f;
}
const member = (node: string, learner = false): MemberInfo => ({ id: node, name: `${node}-0123abcd`, peerURLs: [], clientURLs: [], learner });
const voters = [member('s1'), member('s2'), member('s3')];
const arm = new Map(box.spec.modules.map((m) => [m.name, 'arm64' as const]));
const all = (f: (n: string) => ModuleFacts) => new Map(box.spec.modules.map((m) => [m.name, f(m.name)]));
/** A Node as the API returns it, with only what the upgrade's gate reads. */
const node = (kubeletVersion: string, ready: string, reason?: string): V1Node => ({
  status: {
    nodeInfo: { kubeletVersion } as V1NodeSystemInfo,
    conditions: [{ type: 'Ready', status: ready, ...(reason ? { reason } : {}) }],
  },
});
const flat = (phases: { steps: Step[] }[]) => phases.flatMap((p) => p.steps).map((s) => `${s.kind} ${s.module}`);

describe('upgrade plan', () => {
  it('snapshots first, then each server drained, replaced, restarted and gated before the next, then the agents', () => {
    const plan = planUpgrade(
      box,
      all((n) => running(n)),
      arm,
      inputs,
      voters,
    );
    expect(plan.refusals).toEqual([]);
    expect(flat(plan.phases).filter((s) => !s.startsWith('write'))).toEqual([
      'snapshot s1',
      ...['s3', 's1', 's2'].flatMap((m) => [`drain ${m}`, `start ${m}`, `wait-voter ${m}`, `wait-api ${m}`, `wait-node ${m}`, `uncordon ${m}`]),
      ...['gpu-1', 'a1'].flatMap((m) => [`drain ${m}`, `start ${m}`, `wait-node ${m}`, `uncordon ${m}`]),
    ]);
    expect(plan.phases.every((p) => !p.parallel)).toBe(true);
    // The next module goes down only once this one's new kubelet is Ready; a server may have no Node.
    const waits = plan.phases.flatMap((p) => p.steps).filter((s) => s.kind === 'wait-node');
    expect(waits.map((s) => [s.module, s.version, s.required])).toEqual([
      ['s3', 'v1.32.5+k3s1', false],
      ['s1', 'v1.32.5+k3s1', false],
      ['s2', 'v1.32.5+k3s1', false],
      ['gpu-1', 'v1.32.5+k3s1', true],
      ['a1', 'v1.32.5+k3s1', true],
    ]);
  });

  it.each<[string, V1Node, true | RegExp]>([
    ['Ready on the new kubelet', node('v1.32.5+k3s1', 'True'), true],
    ["still the old kubelet's Ready", node('v1.31.1+k3s1', 'True'), /kubelet is v1\.31\.1\+k3s1, not v1\.32\.5\+k3s1/],
    ['the new kubelet not Ready yet', node('v1.32.5+k3s1', 'False', 'KubeletNotReady'), /not Ready \(KubeletNotReady\)/],
    ['no status yet', {}, /kubelet is unknown/],
  ])('waits for a node until its kubelet is the new one and Ready: %s', (_, n, want) => {
    const got = nodeReadyOn(n, 'v1.32.5+k3s1');
    if (want === true) expect(got).toBe(true);
    else expect(got).toMatch(want);
  });

  it('changes nothing on a box that runs the inputs already', () => {
    expect(
      flat(
        planUpgrade(
          box,
          all((n) => running(n, 'next')),
          arm,
          inputs,
          voters,
        ).phases,
      ),
    ).toEqual([]);
  });

  it('refuses while a voter is down: restarting another would lose the quorum', () => {
    const facts = all((n) => running(n));
    facts.get('s2')!.units.k3s = { loaded: true, active: false, enabled: true };
    const plan = planUpgrade(box, facts, arm, inputs, voters);
    expect(plan.refusals.map((r) => [r.code, r.module])).toEqual([['install.voter-down', 's2']]);
    expect(plan.refusals[0]!.message).toMatch(/1 of 3 voters running, below the quorum of 2/);
  });

  it('lets five voters with one down go on (four running, one restarted at a time keeps three)', () => {
    const five = [...voters, member('gpu-1'), member('a1')];
    const facts = all((n) => running(n));
    for (const m of ['gpu-1', 'a1'])
      facts.get(m)!.units = { k3s: { loaded: true, active: m === 'gpu-1', enabled: true }, 'edgebox-agent': { loaded: true, active: true, enabled: true } };
    expect(planUpgrade(box, facts, arm, inputs, five).refusals).toEqual([]);
  });

  it('refuses while a member is still joining, or a module was never installed', () => {
    const facts = all((n) => running(n));
    facts.get('a1')!.units['edgebox-agent'] = { loaded: false, active: false, enabled: false };
    const plan = planUpgrade(box, facts, arm, inputs, [...voters, member('gpu-1', true)]);
    expect(plan.refusals.map((r) => r.code).sort()).toEqual(['install.learner', 'install.not-installed']);
  });

  it('only replaces the binary of a module whose K3s is stopped: its agent decides when it starts', () => {
    const facts = all((n) => running(n, 'next'));
    facts.set('a1', running('a1'));
    facts.get('a1')!.units['k3s-agent'] = { loaded: true, active: false, enabled: false };
    expect(flat(planUpgrade(box, facts, arm, inputs, voters).phases)).toEqual(['snapshot s1', 'write a1']);
  });
});

describe('drain', () => {
  const pod = (name: string, o: Partial<{ owner: string; mirror: boolean; phase: string }> = {}): V1Pod => ({
    metadata: {
      name,
      ...(o.owner ? { ownerReferences: [{ kind: o.owner, name: 'x', apiVersion: 'apps/v1', uid: '1' }] } : {}),
      ...(o.mirror ? { annotations: { 'kubernetes.io/config.mirror': 'x' } } : {}),
    },
    status: { phase: o.phase ?? 'Running' },
  });
  it("evicts what runs there but a DaemonSet's pods, static pods and finished ones", () => {
    const names = podsToEvict([
      pod('web', { owner: 'ReplicaSet' }),
      pod('ds', { owner: 'DaemonSet' }),
      pod('vip', { mirror: true }),
      pod('job', { phase: 'Succeeded' }),
      pod('bare'),
    ]).map((p) => p.metadata?.name);
    expect(names).toEqual(['web', 'bare']);
  });
});
