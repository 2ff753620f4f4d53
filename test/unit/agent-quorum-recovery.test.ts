import { describe, expect, it } from 'vitest';
import type { PowerDriver, PowerState } from '../../src/power/driver.js';
import { powerDrivers } from '../../src/power/drivers.js';
import { QuorumRecovery, quorumSpecOptions } from '../../src/agent/quorum/recovery-loop.js';
import { LocalPowerDriver } from '../../src/local/power-driver.js';
import { TuringPiBmcDriver } from '../../src/power/turingpi-bmc.js';
import type { ControlPlaneReport } from '../../src/contract/role-driver.js';
import { parseSpec } from '../../src/spec/load.js';

const member = (name: string) => ({ id: name, name, peerURLs: [], clientURLs: [], learner: false });
const flush = () => new Promise((r) => setImmediate(r));

const GRACE = 10_000;

/**
 * m1's agent in a box of five: voters m1-m3 (m1 has the most recent data), witnesses m4 and m5,
 * which it hears. `slots` is what the power driver says of m2's and m3's slots, until it powers
 * them off (then off, unless `stuckOn`).
 */
function setup(
  o: {
    slots?: PowerState;
    stuckOn?: boolean;
    powered?: boolean;
    safetyMs?: number;
    peers?: Record<string, { reachable: boolean; silentMs: number }>;
    resetting?: Promise<void>;
  } = {},
) {
  let now = 1_000_000;
  let report: ControlPlaneReport = { role: 'server', running: true, healthy: true, leader: 'm1', raftIndex: 100, members: ['m1', 'm2', 'm3'].map(member) };
  const calls: string[] = [];
  const off = new Set<string>();
  const power: PowerDriver = {
    powerOff: async (m) => {
      calls.push(`powerOff ${m}`);
      if (!o.stuckOn) off.add(m);
    },
    state: async (m) => {
      calls.push(`state ${m}`);
      return off.has(m) ? 'off' : (o.slots ?? 'off');
    },
  };
  const r = new QuorumRecovery({
    self: 'm1',
    modules: ['m1', 'm2', 'm3', 'm4', 'm5'],
    power: o.powered === false ? {} : { m2: { driver: 'local', slot: 2 }, m3: { driver: 'local', slot: 3 } },
    powerDriver: () => power,
    powerOffGraceMs: GRACE,
    ...(o.safetyMs !== undefined ? { safetyMs: o.safetyMs } : {}),
    driver: {
      resetCluster: async () => {
        calls.push('resetCluster');
        await o.resetting;
        report = { ...report, leader: 'm1', healthy: true, members: [member('m1')] };
      },
      demote: async () => {
        calls.push('demote');
      },
      restart: async () => {
        calls.push('restart');
      },
    },
    report: () => report,
    peers: () =>
      o.peers ?? {
        m2: { reachable: false, silentMs: now - 1_000_000 },
        m3: { reachable: false, silentMs: now - 1_000_000 },
        m4: { reachable: true, silentMs: 100 },
        m5: { reachable: true, silentMs: 100 },
      },
    log: () => {},
    monoNow: () => now,
    wallNow: () => now + 1_700_000_000_000,
  });
  // The witnesses vote for m1, as theirs would once they hear it recover.
  for (const w of ['m4', 'm5']) r.heard(w, { role: 'agent', voter: false, leader: false, vote: 'm1' });
  return {
    r,
    calls,
    advance: (ms: number) => {
      now += ms;
    },
    loseLeader: () => {
      const { leader: _lost, ...rest } = report;
      report = { ...rest, healthy: false };
    },
    /** K3s exited (or runs without serving): no member list, no raft index. */
    stopAnswering: () => {
      report = { role: 'server', running: false, healthy: false, message: 'k3s is inactive' };
    },
  };
}

describe('QuorumRecovery', () => {
  it('missing voters whose slots are already off (a power cut): asked, not switched, and the cluster is reset once, without the grace', async () => {
    const s = setup({ slots: 'off' });
    s.r.check();
    s.loseLeader();
    s.advance(2_000);
    expect(s.r.check().action).toEqual({ kind: 'wait', reason: 'electing' });
    expect(s.r.status().state).toBe('electing');
    s.advance(4_000);
    expect(s.r.check().action).toEqual({ kind: 'probe', modules: ['m2', 'm3'] });
    await flush();
    expect(s.r.check().action).toEqual({ kind: 'reset' });
    await flush();
    s.advance(500);
    expect(s.r.check().action).toEqual({ kind: 'none' });
    await flush();
    expect(s.calls).toEqual(['state m2', 'state m3', 'resetCluster']);
    expect(s.r.status()).toMatchObject({ state: 'reset', survivor: 'm1', resetAfterMs: 0, fenced: ['m2', 'm3'] });
    expect(s.r.summary()).toMatchObject({ voter: true, leader: true, phase: 'reset', vote: 'm1' });
  });

  it('a lone survivor whose member stops answering after the loss (K3s exits when its controller-manager loses its lease) is still reset, on what it said last', async () => {
    const s = setup({ slots: 'off' });
    s.r.check();
    s.loseLeader();
    s.advance(6_000);
    expect(s.r.check().action).toEqual({ kind: 'probe', modules: ['m2', 'm3'] });
    await flush();
    s.stopAnswering();
    s.advance(500);
    // Without its last answer it is a stopped member no cluster vouches for: a cold start, over and over.
    expect(s.r.check()).toMatchObject({ action: { kind: 'reset' }, vote: 'm1', missing: ['m2', 'm3'] });
    expect(s.r.summary()).toMatchObject({ voter: true, raftIndex: 100, vote: 'm1' });
    await flush();
    expect(s.calls).toEqual(['state m2', 'state m3', 'resetCluster']);
  });

  it('a member that stopped answering after the loss is a stopped member again once a peer it hears has a leader: the role loop may restart it', async () => {
    const peers = {
      m2: { reachable: false, silentMs: 10_000 },
      m3: { reachable: false, silentMs: 10_000 },
      m4: { reachable: true, silentMs: 100 },
      m5: { reachable: true, silentMs: 100 },
    };
    const s = setup({ slots: 'on', peers });
    s.r.check();
    s.loseLeader();
    s.advance(6_000);
    expect(s.r.check().action).toEqual({ kind: 'probe', modules: ['m2', 'm3'] });
    await flush();
    s.stopAnswering();
    // The cut heals: m2 is back and leads what m3 and it hold (a quorum without m1).
    Object.assign(peers, { m2: { reachable: true, silentMs: 100 }, m3: { reachable: true, silentMs: 100 } });
    for (const v of ['m2', 'm3']) s.r.heard(v, { role: 'server', voter: true, leader: true, raftIndex: 120 });
    s.advance(500);
    expect(s.r.check().action.kind).toBe('none');
    expect(s.r.mayStartMember()).toEqual({ ok: true });
    expect(s.calls).not.toContain('resetCluster');
  });

  it('a member that stops answering while it has a leader is no survivor: it is a stopped member, as before', () => {
    const s = setup({ slots: 'off' });
    s.r.check();
    s.stopAnswering();
    s.advance(6_000);
    expect(s.r.check().action).toMatchObject({ kind: 'restart' });
    expect(s.r.summary()).toMatchObject({ voter: false });
    expect(s.calls).not.toContain('resetCluster');
  });

  it('voters whose slots are on may be rebooting: powered off only after the grace, then the cluster is reset once', async () => {
    const s = setup({ slots: 'on' });
    s.r.check();
    s.loseLeader();
    s.advance(6_000);
    expect(s.r.check().action).toEqual({ kind: 'probe', modules: ['m2', 'm3'] });
    await flush();
    expect(s.r.check().action).toEqual({ kind: 'wait', reason: 'rebooting' });
    expect(s.calls).not.toContain('powerOff m2');
    s.advance(4_000);
    expect(s.r.check().action).toEqual({ kind: 'fence', modules: ['m2', 'm3'] });
    await flush();
    expect(s.r.status()).toMatchObject({ state: 'fencing', fenced: ['m2', 'm3'], lost: true, survivor: 'm1' });
    expect(s.r.check().action).toEqual({ kind: 'reset' });
    await flush();
    expect(s.calls).toEqual(['state m2', 'state m3', 'powerOff m2', 'powerOff m3', 'state m2', 'state m3', 'resetCluster']);
  });

  it('a voter cut off alone (it hears nobody) neither asks, powers off nor resets, however long it waits', async () => {
    const s = setup({
      slots: 'on',
      peers: {
        m2: { reachable: false, silentMs: 600_000 },
        m3: { reachable: false, silentMs: 600_000 },
        m4: { reachable: false, silentMs: 600_000 },
        m5: { reachable: false, silentMs: 600_000 },
      },
    });
    s.r.check();
    s.loseLeader();
    for (let t = 0; t < 20; t++) {
      s.advance(60_000);
      s.r.check();
      await flush();
    }
    expect(s.r.check().action).toEqual({ kind: 'refuse', reason: 'minority' });
    expect(s.calls).toEqual([]);
  });

  it('the role loop may not start the member while the reset runs', async () => {
    let done = () => {};
    const s = setup({
      resetting: new Promise<void>((r) => {
        done = r;
      }),
    });
    s.r.check();
    s.loseLeader();
    s.advance(6_000);
    s.r.check();
    await flush();
    expect(s.r.check().action).toEqual({ kind: 'reset' });
    await flush();
    expect(s.r.mayStartMember()).toEqual({ ok: false, reason: 'quorum recovery: reset in progress' });
    done();
    await flush();
    await flush();
    expect(s.r.mayStartMember()).toEqual({ ok: true });
  });

  it('a power driver that does not confirm the power-off: refuse with the reason, try again later', async () => {
    const s = setup({ slots: 'on', stuckOn: true });
    s.r.check();
    s.loseLeader();
    s.advance(GRACE);
    s.r.check();
    await flush();
    expect(s.r.check().action).toEqual({ kind: 'fence', modules: ['m2', 'm3'] });
    await flush();
    expect(s.r.check().action).toEqual({ kind: 'refuse', reason: 'fence-failed' });
    expect(s.r.status().message).toMatch(/cannot power off m2 \(the local driver reports it on after powering it off\)/);
    expect(s.calls).not.toContain('resetCluster');
    s.advance(30_000);
    expect(s.r.check().action).toEqual({ kind: 'probe', modules: ['m2', 'm3'] });
  });

  it('no power driver and no safety period: nothing is reset, the status says why', async () => {
    const s = setup({ powered: false });
    s.r.check();
    s.loseLeader();
    s.advance(600_000);
    s.r.check();
    await flush();
    expect(s.calls).toEqual([]);
    expect(s.r.status()).toMatchObject({ state: 'refused', reason: 'no-fence', missing: ['m2', 'm3'] });
    expect(s.r.status().hint).toMatch(/power driver/);
  });

  it('a voter that is not the survivor stands by: the role loop must not start its member', () => {
    const s = setup({
      peers: {
        m2: { reachable: true, silentMs: 100 },
        m3: { reachable: false, silentMs: 60_000 },
        m4: { reachable: true, silentMs: 100 },
        m5: { reachable: true, silentMs: 100 },
      },
    });
    s.r.heard('m2', { role: 'server', voter: true, raftIndex: 150, leader: false, phase: 'waiting', vote: 'm2' });
    s.r.check();
    expect(s.r.mayStartMember().ok).toBe(true);
    s.loseLeader();
    s.advance(6_000);
    // Two of three voters heard: a majority, so not lost; m3's return or an election settles it.
    expect(s.r.check().action).toEqual({ kind: 'wait', reason: 'majority-up' });
  });

  it('reads its options from the spec', () => {
    const { box } = parseSpec(
      `apiVersion: edgebox.dev/v1alpha1
kind: EdgeBox
metadata: { name: b }
spec:
  controlPlane: { servers: 1, quorumLossSafetySeconds: 90 }
  modules:
    - { name: m1, hardware: rpi-cm4-4gb, address: 127.0.1.1, power: { driver: local, slot: 1 } }
    - { name: m2, hardware: rpi-cm4-4gb, address: 127.0.1.2 }
`,
      'box.yaml',
    );
    expect(quorumSpecOptions(box)).toEqual({ power: { m1: { driver: 'local', slot: 1 } }, safetyMs: 90_000, powerOffGraceMs: 60_000 });
  });

  it("fences with the controller's power drivers, one per board, and none it cannot use", async () => {
    expect(await powerDrivers([], {})).toBeUndefined();
    expect(await powerDrivers([{ driver: 'local', slot: 2 }], {})).toBeUndefined();
    const local = (await powerDrivers([{ driver: 'local', slot: 2 }], { localDir: '/tmp/box' }))!;
    expect(local({ driver: 'local', slot: 2 })).toBeInstanceOf(LocalPowerDriver);
    const bmc = (await powerDrivers(
      [
        { driver: 'turingpi-bmc', slot: 1 },
        { driver: 'turingpi-bmc', slot: 2 },
        { driver: 'turingpi-bmc', slot: 1, endpoint: 'http://10.0.0.9' },
      ],
      {},
    ))!;
    expect(bmc({ driver: 'turingpi-bmc', slot: 1 })).toBeInstanceOf(TuringPiBmcDriver);
    expect(bmc({ driver: 'turingpi-bmc', slot: 2 })).toBe(bmc({ driver: 'turingpi-bmc', slot: 1 }));
    expect(bmc({ driver: 'turingpi-bmc', slot: 1, endpoint: 'http://10.0.0.9' })).not.toBe(bmc({ driver: 'turingpi-bmc', slot: 1 }));
  });
});
