import { describe, expect, it } from 'vitest';
import { planDrain } from '../../src/controller/guardian/drain-plan.js';
import { CONTROL_PLANE_ANNOTATIONS as A, formatRoleChange } from '../../src/contract/control-plane.js';
import { drainDone } from '../../src/controller/guardian/drain-request.js';
import { T } from './controller-fixtures.js';
import { observe, threeServers, type World } from './guardian-fixtures.js';

const drain = (w: World, module: string) => planDrain(observe(w), module);

describe('planDrain', () => {
  it('a voter with an eligible replacement: promote it first, then demote', () => {
    const p = drain(threeServers(), 'm2');
    expect(p).toMatchObject({ ok: true, server: true, replacement: 'm4', alreadyDraining: false });
    if (!p.ok) return;
    expect(p.steps).toHaveLength(3);
    expect(p.steps[1]).toMatch(/promote m4/);
    expect(p.steps[2]).toMatch(/remove m2's etcd member/);
  });

  it('a module that is no member: only the cordon', () => {
    expect(drain(threeServers(), 'm5')).toMatchObject({ ok: true, server: false });
  });

  it.each<[string, World, string, string]>([
    [
      'no eligible replacement',
      threeServers((m) => (m.name === 'm4' ? { serverRole: false } : m.name === 'm5' ? { alive: false } : {})),
      'm1',
      'drain.no-replacement',
    ],
    ['another voter unhealthy', threeServers((m) => (m.name === 'm3' ? { etcdHealthy: false } : {})), 'm1', 'drain.voter-unhealthy'],
    [
      'a change in progress',
      threeServers((m) =>
        m.name === 'm4' ? { annotations: { [A.desiredRole]: 'server', [A.change]: formatRoleChange({ type: 'promote', at: T(-1000), reason: 'r' }) } } : {},
      ),
      'm1',
      'drain.change-pending',
    ],
    ['quorum lost', threeServers((m) => (m.name === 'm2' || m.name === 'm3' ? { alive: false } : {})), 'm1', 'drain.quorum-lost'],
    ['no member list', threeServers((m) => (m.member ? { etcdHealthy: false } : {})), 'm1', 'drain.control-plane-unknown'],
    ['an unknown module', threeServers(), 'm9', 'drain.unknown-module'],
  ])('refuses: %s', (_why, w, module, code) => {
    const p = drain(w, module);
    expect(p.ok).toBe(false);
    if (!p.ok) {
      expect(p.code).toBe(code);
      expect(p.reason.length).toBeGreaterThan(10);
    }
  });

  it('a single server with no replacement: refused, it would leave no API', () => {
    const w: World = {
      servers: 1,
      modules: [
        { name: 'm1', member: 'voter' },
        { name: 'm2', serverRole: false },
      ],
    };
    const p = drain(w, 'm1');
    expect(p).toMatchObject({ ok: false, code: 'drain.no-replacement' });
    if (!p.ok) expect(p.reason).toMatch(/0 voter\(s\), and no API/);
  });

  it('a voter too many: demoted without a replacement', () => {
    expect(
      drain(
        threeServers((m) => (m.name === 'm4' ? { member: 'voter' } : m.name === 'm5' ? { serverRole: false } : {})),
        'm1',
      ),
    ).toMatchObject({ ok: true, server: true });
  });

  it('drain already under way: ok, the command waits', () => {
    const w = threeServers((m) =>
      m.name === 'm1'
        ? {
            annotations: {
              [A.drain]: 'x',
              [A.desiredRole]: 'agent',
              [A.etcdRemove]: 'true',
              [A.change]: formatRoleChange({ type: 'demote', at: T(-1000), reason: 'r' }),
            },
          }
        : m.name === 'm4'
          ? { member: 'voter' }
          : {},
    );
    expect(drain(w, 'm1')).toMatchObject({ ok: true, alreadyDraining: true });
  });
});

describe('drainDone', () => {
  it('not while the module is a member; yes once it is gone and the voters are healthy with nothing pending', () => {
    expect(drainDone(observe(threeServers()), 'm1').done).toBe(false);
    const after = threeServers((m) => (m.name === 'm1' ? { member: undefined, annotations: { [A.drain]: 'x' } } : m.name === 'm4' ? { member: 'voter' } : {}));
    expect(drainDone(observe(after), 'm1')).toMatchObject({
      done: true,
      voters: [
        { module: 'm2', healthy: true },
        { module: 'm3', healthy: true },
        { module: 'm4', healthy: true },
      ],
    });
  });
});
