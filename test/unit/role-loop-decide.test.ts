import fc from 'fast-check';
import { pathCounter } from './path-counter.js';
import { describe, expect, it } from 'vitest';
import type { ControlPlaneReport, MemberInfo } from '../../src/contract/role-driver.js';
import { clusterView, decideRole, removalActor, type ClusterView, type RoleInputs } from '../../src/agent/role/decide.js';
import { cadence } from '../../src/agent/role/role-loop.js';

const member = (name: string, n: number, learner = false): MemberInfo => ({
  id: `${n}`,
  name,
  peerURLs: [`http://127.0.1.${n}:2380`],
  clientURLs: name ? [`http://127.0.1.${n}:2379`] : [],
  learner,
});
const m1 = member('m1', 1);
const m2 = member('m2', 2);
const m3 = member('m3', 3);
const m4 = member('m4', 4);

const voter = (leader: string, members: MemberInfo[]): ControlPlaneReport => ({ role: 'server', running: true, healthy: true, leader, members });
const stopped: ControlPlaneReport = { role: 'server', running: false, healthy: false, message: 'member stopped (its data is kept)' };
const agent: ControlPlaneReport = { role: 'agent', running: false, healthy: false };
const cluster = (members: MemberInfo[]): ClusterView => ({ members, etcdEndpoints: members.filter((m) => !m.learner).flatMap((m) => m.clientURLs) });

const inputs = (o: Partial<RoleInputs> & Pick<RoleInputs, 'module' | 'report'>): RoleInputs => ({
  removals: [],
  apiServer: 'https://127.0.0.1:6443',
  mayStartMember: { ok: true },
  ...o,
});

describe('role loop decisions', () => {
  it.each<[string, RoleInputs, string]>([
    ['a healthy server with nothing asked does nothing', inputs({ module: 'm1', report: voter('m2', [m1, m2, m3]) }), 'none'],
    ['an agent with nothing asked does nothing', inputs({ module: 'm4', report: agent, cluster: cluster([m1, m2, m3]) }), 'none'],
    ['the leader removes a member marked for removal', inputs({ module: 'm2', report: voter('m2', [m1, m2, m3]), removals: ['m1'] }), 'remove'],
    ['a follower leaves the removal to the leader', inputs({ module: 'm3', report: voter('m2', [m1, m2, m3]), removals: ['m1'] }), 'none'],
    ['a removal already done is not repeated', inputs({ module: 'm2', report: voter('m2', [m2, m3, m4]), removals: ['m1'] }), 'none'],
    [
      'the leader asks for a learner to be promoted when its driver does it (k3s)',
      inputs({ module: 'm2', report: voter('m2', [m1, m2, m3, member('m4', 4, true)]), promotesLearners: true }),
      'promote-learner',
    ],
    [
      'a follower leaves the learner to the leader',
      inputs({ module: 'm3', report: voter('m2', [m1, m2, m3, member('m4', 4, true)]), promotesLearners: true }),
      'none',
    ],
    [
      'a driver whose joining module promotes itself (process): the leader leaves the learner alone',
      inputs({ module: 'm2', report: voter('m2', [m1, m2, m3, member('m4', 4, true)]) }),
      'none',
    ],
    [
      'a removal comes before a learner',
      inputs({ module: 'm2', report: voter('m2', [m1, m2, m3, member('m4', 4, true)]), removals: ['m1'], promotesLearners: true }),
      'remove',
    ],
    [
      'an unhealthy server (no leader) never asks for a promotion',
      inputs({
        module: 'm2',
        report: { role: 'server', running: true, healthy: false, members: [m1, m2, member('m4', 4, true)] },
        promotesLearners: true,
      }),
      'none',
    ],
    ['desired server: an agent joins the cluster', inputs({ module: 'm4', report: agent, desired: 'server', cluster: cluster([m2, m3]) }), 'promote'],
    [
      'desired server: a learner goes on to its promotion',
      inputs({
        module: 'm4',
        report: { role: 'server', running: false, healthy: false, message: 'learner' },
        desired: 'server',
        cluster: cluster([m2, m3, member('m4', 4, true)]),
      }),
      'promote',
    ],
    [
      'desired server, done: nothing to do',
      inputs({ module: 'm4', report: voter('m2', [m2, m3, m4]), desired: 'server', cluster: cluster([m2, m3, m4]) }),
      'none',
    ],
    ['desired server without a healthy cluster to join: waits', inputs({ module: 'm4', report: agent, desired: 'server' }), 'wait'],
    [
      'desired server, vetoed by the quorum-loss recovery: waits',
      inputs({ module: 'm4', report: agent, desired: 'server', cluster: cluster([m2, m3]), mayStartMember: { ok: false, reason: 'recovering' } }),
      'wait',
    ],
    [
      'desired agent while still a member: waits for the removal',
      inputs({ module: 'm1', report: voter('m2', [m1, m2, m3]), desired: 'agent', cluster: cluster([m1, m2, m3]) }),
      'wait',
    ],
    [
      'desired agent once removed: demotes',
      inputs({ module: 'm1', report: { role: 'server', running: true, healthy: false }, desired: 'agent', cluster: cluster([m2, m3, m4]) }),
      'demote',
    ],
    ['desired agent with no cluster to confirm the removal: waits', inputs({ module: 'm1', report: stopped, desired: 'agent' }), 'wait'],
    ['desired agent on an agent: nothing to do', inputs({ module: 'm1', report: agent, desired: 'agent', cluster: cluster([m2, m3, m4]) }), 'none'],
    ['back from a power-off, still a member: restarts', inputs({ module: 'm1', report: stopped, cluster: cluster([m1, m2, m3]) }), 'restart'],
    ['back from a power-off, replaced: demotes (its data is stale)', inputs({ module: 'm1', report: stopped, cluster: cluster([m2, m3, m4]) }), 'demote'],
    ['back from a power-off, no cluster answers: waits', inputs({ module: 'm1', report: stopped }), 'wait'],
    [
      'back from a power-off, still a member, vetoed: waits',
      inputs({ module: 'm1', report: stopped, cluster: cluster([m1, m2, m3]), mayStartMember: { ok: false, reason: 'not the survivor' } }),
      'wait',
    ],
  ])('%s', (_name, i, type) => {
    expect(decideRole(i).type).toBe(type);
  });

  it("a join targets the healthy voters' client URLs and the API address", () => {
    expect(decideRole(inputs({ module: 'm4', report: agent, desired: 'server', cluster: cluster([m2, m3]) }))).toEqual({
      type: 'promote',
      reason: 'desired role: server',
      target: { etcdEndpoints: ['http://127.0.1.2:2379', 'http://127.0.1.3:2379'], apiServer: 'https://127.0.0.1:6443' },
    });
  });

  it('the removal names the member by name and id', () => {
    expect(decideRole(inputs({ module: 'm2', report: voter('m2', [m1, m2, m3]), removals: ['m1'] }))).toMatchObject({
      type: 'remove',
      member: { name: 'm1', id: '1' },
    });
  });

  it.each([
    ['the leader', voter('m2', [m1, m2, m3]), ['m1'], 'm2'],
    ['a drained leader leaves it to the first other voter by name', voter('m2', [m1, m2, m3]), ['m2'], 'm1'],
    ['learners never act', voter('m2', [member('m1', 1, true), m2, m3]), ['m2'], 'm3'],
    ['nobody without a leader', { role: 'server', running: true, healthy: false, members: [m1, m2] } as ControlPlaneReport, ['m1'], undefined],
  ])('removal actor: %s', (_name, report, removals, actor) => {
    expect(removalActor(report, removals)).toBe(actor);
  });

  it("the cluster view takes the freshest healthy voter's list and only healthy voters as endpoints", () => {
    const view = clusterView(
      [
        { module: 'm2', report: { ...voter('m2', [m1, m2, m3]), raftIndex: 10 } },
        { module: 'm3', report: { ...voter('m2', [m2, m3, m4]), raftIndex: 12 } },
        { module: 'm1', report: stopped },
        { module: 'm4', report: { ...voter('m2', [m2, m3, m4]), raftIndex: 99 } },
      ],
      'm4',
    );
    expect(view).toEqual({ members: [m2, m3, m4], etcdEndpoints: ['http://127.0.1.2:2379', 'http://127.0.1.3:2379'] });
    expect(
      clusterView(
        [
          { module: 'm1', report: stopped },
          { module: 'm4', report: agent },
        ],
        'm4',
      ),
    ).toBeUndefined();
  });

  // Safety, whatever the inputs: a member the live cluster lists is never discarded, nothing is
  // discarded without a live cluster to say so, and a vetoed module never starts a member.
  it('never demotes a listed member, never demotes blind, never starts a member when vetoed', () => {
    const names = ['m1', 'm2', 'm3', 'm4'];
    const report = fc
      .record({
        role: fc.constantFrom<'server' | 'agent'>('server', 'agent'),
        running: fc.boolean(),
        healthy: fc.boolean(),
        leader: fc.option(fc.constantFrom(...names), { nil: undefined }),
        members: fc.option(fc.subarray([m1, m2, m3, m4]), { nil: undefined }),
      })
      .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as ControlPlaneReport);
    const paths = pathCounter();
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        report,
        fc.option(fc.constantFrom<'server' | 'agent'>('server', 'agent'), { nil: undefined }),
        fc.subarray(names),
        fc.option(fc.subarray([m1, m2, m3, m4], { minLength: 1 }), { nil: undefined }),
        fc.boolean(),
        (module, r, desired, removals, members, ok) => {
          const action = decideRole(
            inputs({
              module,
              report: r,
              removals,
              mayStartMember: ok ? { ok } : { ok, reason: 'recovering' },
              ...(desired ? { desired } : {}),
              ...(members ? { cluster: cluster(members) } : {}),
            }),
          );
          paths.count(action.type === 'demote' && 'demote', !ok && 'vetoed');
          if (action.type === 'demote') {
            expect(members).toBeDefined();
            expect(members!.some((m) => m.name === module)).toBe(false);
          }
          if (!ok) expect(['promote', 'restart']).not.toContain(action.type);
          if (action.type === 'remove') expect(action.member.name).not.toBe(module);
        },
      ),
      { numRuns: 1000 },
    );
    // About 9 % and 50 % of the runs.
    expect(paths.share('demote')).toBeGreaterThanOrEqual(0.04);
    expect(paths.share('vetoed')).toBeGreaterThanOrEqual(0.3);
  });
});

describe('role loop cadence', () => {
  const sick: ControlPlaneReport = { role: 'server', running: true, healthy: false, message: 'no etcd leader: the cluster has no quorum' };
  const at = (idle: boolean, report: ControlPlaneReport, sinceDecidedMs: number) => cadence({ idle, report, sinceDecidedMs, everyMs: 1000, idleEveryMs: 2000 });
  it.each<[string, boolean, ControlPlaneReport, number, { decide: boolean; nextMs: number }]>([
    ['a settled agent looks and reads every idle period', true, agent, 2000, { decide: true, nextMs: 2000 }],
    ['a settled healthy server too, however its timer drifted', true, voter('m1', [m1, m2, m3]), 1990, { decide: true, nextMs: 2000 }],
    ['a server that turned sick is observed every second', true, sick, 1000, { decide: false, nextMs: 1000 }],
    ['and still reads the API every idle period', true, sick, 2000, { decide: true, nextMs: 1000 }],
    ['a stopped member waiting for its cluster likewise', true, stopped, 1000, { decide: false, nextMs: 1000 }],
    ['something pending: every look reads the API, every second', false, voter('m1', [m1, m2, m3]), 1000, { decide: true, nextMs: 1000 }],
    ['an agent with something pending too', false, agent, 0, { decide: true, nextMs: 1000 }],
  ])('%s', (_what, idle, report, since, expected) => {
    expect(at(idle, report, since)).toEqual(expected);
  });

  it('never waits more than an idle period to look, nor to read the API when idle', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.constantFrom(agent, stopped, sick, voter('m1', [m1, m2, m3])), fc.nat(10_000), (idle, report, since) => {
        const c = at(idle, report, since);
        expect(c.nextMs).toBeLessThanOrEqual(2000);
        if (since >= 2000) expect(c.decide).toBe(true);
        // Only a settled module slows down.
        if (!idle || (report.role === 'server' && !report.healthy)) expect(c.nextMs).toBe(1000);
      }),
    );
  });
});
