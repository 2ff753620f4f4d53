import { describe, expect, it } from 'vitest';
import { HOLDER_STALE_GRACE_MS, planPeripherals, type PeripheralAction, type PeripheralObserved } from '../../src/controller/peripherals/plan.js';
import { peripheralStatuses } from '../../src/controller/peripherals/status.js';
import { decideGrant } from '../../src/agent/grant/decide.js';
import { deviceCommands } from '../../src/agent/grant/device.js';
import type { PeripheralLease } from '../../src/peripherals/lease.js';
import { DEFAULT_PERIPHERAL_TIMINGS, ownsLabel } from '../../src/contract/peripherals.js';
import { chooseOwner, handoverSafety, ownerOrder, type ModuleState } from '../../src/peripherals/ownership.js';
import { parseSpec } from '../../src/spec/load.js';
import { down, node, NOW, pod, T, up, view } from './controller-fixtures.js';
import { OUT_OF_SERVICE_TAINT } from '../../src/contract/taints.js';
import { FENCE_ANNOTATIONS } from '../../src/contract/fencing.js';

const box = parseSpec(
  `
apiVersion: edgebox.dev/v1alpha1
kind: EdgeBox
metadata: { name: t }
spec:
  controlPlane: { servers: 1 }
  modules:
    - { name: m1, hardware: rpi-cm4-4gb, address: 10.0.0.1, capabilities: [can] }
    - { name: m2, hardware: rpi-cm4-4gb, address: 10.0.0.2 }
    - { name: m3, hardware: rpi-cm4-4gb, address: 10.0.0.3, capabilities: [can] }
  peripherals:
    - { name: bus, kind: can, attachedTo: [m2, m1, m3], exclusive: true }
    - { name: cam, kind: camera, attachedTo: [m1, m2] }
  workloads:
    - { name: motor, image: x, requires: { capabilities: [can] }, peripherals: [bus], singleton: true }
`,
  't.yaml',
).box;

const t = DEFAULT_PERIPHERAL_TIMINGS;
/** The owner's Lease; `renewTime` moves its observation with it unless one is given (the clocks agree). */
const lease = (o: Partial<PeripheralLease> = {}): PeripheralLease => ({
  peripheral: 'bus',
  resourceVersion: 'rv1',
  holder: 'm1',
  token: 4,
  renewTime: T(-200),
  acquireTime: T(-60_000),
  durationSeconds: t.leaseSeconds,
  ...o,
  observedAt: o.observedAt !== undefined ? o.observedAt : o.renewTime !== undefined ? o.renewTime : T(-200),
});
const owned = (n: string) => node(n, { labels: { 'edgebox.dev/module': n, [ownsLabel('bus')]: 'true' } });
function observed(o: Partial<PeripheralObserved> = {}): PeripheralObserved {
  return {
    mono: NOW,
    box,
    timings: t,
    nodes: [owned('m1'), node('m2'), node('m3')],
    views: ['m1', 'm2', 'm3'].map((m) => view(m, {})),
    pods: [],
    leases: [lease()],
    ...o,
  };
}
const kinds = (a: PeripheralAction[]) =>
  a.map((x) => (x.type === 'label' ? `label ${x.node} ${x.owns}` : x.type === 'assign' ? `assign ${x.to} ${x.token} ${x.because}` : x.type));
const stale = (m: string) => view(m, {}, 10_000);

describe('ownerOrder', () => {
  it("keeps attachedTo order, skipping modules that cannot run the peripheral's workloads", () => {
    expect(ownerOrder(box, box.spec.peripherals[0]!)).toEqual(['m1', 'm3']);
  });
});

describe('chooseOwner', () => {
  const states = (eligible: string[]) =>
    new Map<string, ModuleState>(
      ['m1', 'm3'].map((m) => [m, { module: m, eligible: eligible.includes(m), mayKeep: false, poweredOff: false, taintFenced: false }]),
    );
  it.each([
    ['keeps a holder that is fine', { holder: 'm3' }, ['m1', 'm3'], { desired: 'm3' }],
    ['takes the first eligible when nobody holds it', { holder: null }, ['m1', 'm3'], { desired: 'm1', reason: 'unowned' }],
    ['moves off a holder that is no longer eligible', { holder: 'm1' }, ['m3'], { desired: 'm3', reason: 'holder-unavailable' }],
    ['follows a move to an eligible module', { holder: 'm1', moveTo: 'm3' }, ['m1', 'm3'], { desired: 'm3', reason: 'move' }],
    ['ignores a move to a module that is not eligible', { holder: 'm1', moveTo: 'm3' }, ['m1'], { desired: 'm1' }],
    ['nobody when no module is eligible', { holder: 'm1' }, [], { desired: null }],
  ] as const)('%s', (_w, l, eligible, want) => {
    expect(chooseOwner(['m1', 'm3'], l as never, states([...eligible]))).toEqual(want);
  });
});

describe('handoverSafety', () => {
  const s = (o: Partial<ModuleState> = {}): ModuleState => ({ module: 'm1', eligible: false, mayKeep: false, poweredOff: false, taintFenced: false, ...o });
  const expiry = T(-200) + t.leaseSeconds * 1000;
  it.each([
    ['a released token: at once', lease({ releasedToken: 4 }), s(), NOW, { safe: true, because: 'released', at: null }],
    ['powered off: at once', lease(), s({ poweredOff: true }), NOW, { safe: true, because: 'powered-off', at: null }],
    ['fenced by taint, lease live: not yet', lease(), s({ taintFenced: true }), NOW, { safe: false, at: expiry }],
    ['fenced by taint, lease expired: safe', lease(), s({ taintFenced: true }), expiry, { safe: true, because: 'fenced-and-expired', at: expiry }],
    ['unfenced, just expired: not before the margin', lease(), s(), expiry + t.handoverMarginMs - 1, { safe: false, at: expiry + t.handoverMarginMs }],
    ['unfenced, expired plus margin: safe', lease(), s(), expiry + t.handoverMarginMs, { safe: true, because: 'expired', at: expiry + t.handoverMarginMs }],
  ])('%s', (_w, l, st, now, want) => expect(handoverSafety(l, st, now, t)).toEqual(want));

  it('the agent stops granting strictly before the controller may hand over', () => {
    // The agent's validity ends at renew + lease - grant margin; the earliest unfenced handover is renew + lease + handover margin.
    expect(t.leaseSeconds * 1000 - t.grantMarginMs).toBeLessThan(t.leaseSeconds * 1000 + t.handoverMarginMs);
    expect(t.grantMarginMs).toBeGreaterThan(0);
  });
});

describe('planPeripherals', () => {
  it('a converged box: nothing to do', () => {
    expect(planPeripherals(observed())).toEqual([]);
  });

  it('no Lease yet: created for the first eligible module', () => {
    expect(planPeripherals(observed({ leases: [] }))).toEqual([{ type: 'create-lease', peripheral: 'bus', attachedTo: ['m2', 'm1', 'm3'], owner: 'm1' }]);
  });

  it('an owner whose agent went silent: not handed over while its lease may be live, and asked to release', () => {
    const a = planPeripherals(observed({ views: [stale('m1'), view('m2', { m1: down() }), view('m3', { m1: down() })] }));
    expect(kinds(a)).toEqual(['request-release', 'label m1 false']);
  });

  it('an owner whose lease expired plus the margin: handed over with the next token', () => {
    const a = planPeripherals(
      observed({ views: [stale('m1'), view('m2', { m1: down() }), view('m3', { m1: down() })], leases: [lease({ renewTime: T(-4100), releaseToken: 4 })] }),
    );
    expect(kinds(a)).toEqual(['assign m3 5 expired', 'label m1 false']);
  });

  it.each([
    ['20 s behind', -20_000],
    ['20 s ahead', 20_000],
  ])('an owner whose clock is %s keeps its peripheral while the controller sees it renew: no second owner', (_what, skew) => {
    // Its agent is silent to the others (cut off), but its Lease was seen renewed 200 ms ago.
    const views = [stale('m1'), view('m2', { m1: down() }), view('m3', { m1: down() })];
    const a = planPeripherals(observed({ views, leases: [lease({ renewTime: T(-200 + skew), observedAt: T(-200), releaseToken: 4 })] }));
    expect(kinds(a).filter((k) => k.startsWith('assign'))).toEqual([]);
  });

  it('after an API outage: an owner whose Lease is late but whose heartbeats every agent hears keeps it, up to the grace', () => {
    const late = { views: [stale('m1'), view('m2', { m1: up }), view('m3', { m1: up })], leases: [lease({ renewTime: T(-8000) })] };
    expect(kinds(planPeripherals(observed(late)))).toEqual([]);
    const gone = { ...late, views: [view('m1', {}, HOLDER_STALE_GRACE_MS + 1), view('m2', { m1: up }), view('m3', { m1: up })] };
    expect(kinds(planPeripherals(observed(gone)))).toEqual(['assign m3 5 expired', 'label m1 false']);
  });

  it('an owner fenced by power: handed over at once', () => {
    const fenced = node('m1', { labels: { [ownsLabel('bus')]: 'true' }, annotations: { [FENCE_ANNOTATIONS.fenceMethod]: 'power' }, ready: 'Unknown' });
    const a = planPeripherals(observed({ nodes: [fenced, node('m2'), node('m3')] }));
    expect(kinds(a)).toEqual(['assign m3 5 powered-off', 'label m1 false']);
  });

  it('an owner fenced by taint: handed over once its lease expired, without the margin', () => {
    const fenced = node('m1', {
      labels: { [ownsLabel('bus')]: 'true' },
      annotations: { [FENCE_ANNOTATIONS.fenceMethod]: 'taint' },
      taints: [OUT_OF_SERVICE_TAINT],
    });
    expect(kinds(planPeripherals(observed({ nodes: [fenced, node('m2'), node('m3')], leases: [lease({ releaseToken: 4 })] })))).toEqual(['label m1 false']);
    expect(kinds(planPeripherals(observed({ nodes: [fenced, node('m2'), node('m3')], leases: [lease({ renewTime: T(-3000), releaseToken: 4 })] })))).toEqual([
      'assign m3 5 fenced-and-expired',
      'label m1 false',
    ]);
  });

  it('a planned move: release first, then assign once the holder confirmed', () => {
    expect(kinds(planPeripherals(observed({ leases: [lease({ moveTo: 'm3' })] })))).toEqual(['request-release', 'label m1 false']);
    expect(kinds(planPeripherals(observed({ leases: [lease({ moveTo: 'm3', releaseToken: 4 })] })))).toEqual(['label m1 false']);
    expect(kinds(planPeripherals(observed({ leases: [lease({ moveTo: 'm3', releaseToken: 4, releasedToken: 4 })] })))).toEqual([
      'assign m3 5 released',
      'label m1 false',
    ]);
  });

  it('a move that is done or impossible is forgotten', () => {
    expect(kinds(planPeripherals(observed({ leases: [lease({ moveTo: 'm1' })] })))).toEqual(['clear-move']);
    expect(kinds(planPeripherals(observed({ leases: [lease({ moveTo: 'm9' })] })))).toEqual(['clear-move']);
  });

  it("the label follows the owner, and its workloads' pods on a live non-owner are evicted", () => {
    const a = planPeripherals(
      observed({
        nodes: [owned('m1'), owned('m3'), node('m2')],
        leases: [lease({ holder: 'm3' })],
        pods: [pod('motor-a', 'm1'), pod('motor-b', 'm3'), pod('other-c', 'm1')],
      }),
    );
    expect(kinds(a)).toEqual(['label m1 false', 'evict']);
    expect(a[1]).toMatchObject({ type: 'evict', node: 'm1', pods: [{ name: 'motor-a' }] });
  });

  it('pods on a module that is not alive are left to the self-healing controller (fenced first)', () => {
    const a = planPeripherals(
      observed({
        nodes: [node('m1', { ready: 'Unknown' }), owned('m3'), node('m2')],
        leases: [lease({ holder: 'm3' })],
        pods: [pod('motor-a', 'm1')],
      }),
    );
    expect(kinds(a)).toEqual([]);
  });

  it('no eligible module: the holder keeps it', () => {
    const a = planPeripherals(observed({ views: [stale('m1'), view('m2', {}), stale('m3')] }));
    expect(kinds(a)).toEqual([]);
  });
});

describe('peripheralStatuses', () => {
  it('lists every peripheral with name, owner and token', () => {
    expect(peripheralStatuses(box, [lease()], NOW)).toEqual([
      {
        name: 'bus',
        kind: 'can',
        exclusive: true,
        attachedTo: ['m2', 'm1', 'm3'],
        owner: 'm1',
        token: 4,
        phase: 'Owned',
        since: new Date(T(-60_000)).toISOString(),
      },
      { name: 'cam', kind: 'camera', exclusive: false, attachedTo: ['m1', 'm2'], owner: null, token: 0, phase: 'Shared' },
    ]);
    expect(peripheralStatuses(box, [lease({ renewTime: T(-5000) })], NOW)[0]!.phase).toBe('Expired');
    expect(peripheralStatuses(box, [], NOW)[0]).toMatchObject({ owner: null, token: 0, phase: 'Unowned' });
  });
});

describe('decideGrant', () => {
  const h = { token: 5, validUntil: 1000 };
  it.each([
    ['a non-owner never grants', { token: null, validUntil: 0 }, 0, undefined, { ok: false, refusal: 'not-owner', current: null }],
    ['the owner grants, and says for how long', h, 400, undefined, { ok: true, token: 5, validForMs: 600 }],
    ['the owner grants its current token', h, 400, 5, { ok: true, token: 5, validForMs: 600 }],
    ['an old token is refused', h, 400, 4, { ok: false, refusal: 'stale-token', current: 5 }],
    ['a token never given is refused', h, 400, 6, { ok: false, refusal: 'unknown-token', current: 5 }],
    ['nothing once its renewal is too old', h, 1000, 5, { ok: false, refusal: 'lease-lapsed', current: 5 }],
  ] as const)('%s', (_w, holding, now, token, want) => expect(decideGrant(holding, now, token)).toEqual(want));
});

describe('deviceCommands', () => {
  it.each([
    ['a CAN bus goes up and down', { name: 'bus', kind: 'can' }, true, [{ kind: 'ip-link', iface: 'can0', up: true }]],
    ['on the named interface', { name: 'bus', kind: 'can', device: 'can1' }, false, [{ kind: 'ip-link', iface: 'can1', up: false }]],
    [
      'the BMC routes USB to the new owner',
      { name: 'u', kind: 'usb', bmc: { endpoint: 'https://bmc', slot: 2 } },
      true,
      [{ kind: 'bmc-usb', endpoint: 'https://bmc', slot: 2, module: 'm1' }],
    ],
    ["letting go of USB does nothing (the next owner's routing takes it)", { name: 'u', kind: 'usb', bmc: { endpoint: 'https://bmc', slot: 2 } }, false, []],
    ['other kinds: the grant API alone', { name: 's', kind: 'serial' }, true, []],
  ] as const)('%s', (_w, p, up, want) => expect(deviceCommands(p, 'm1', up)).toEqual(want));
});
