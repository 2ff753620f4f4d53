import { CoordinationV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../../src/crd/edgebox-crd.js';
import { ownershipEvents } from '../../src/peripherals/events.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState } from '../../src/local/box-state.js';
import { killModule, reviveModule } from '../../src/local/failure-injection.js';
import { healModules, isolateModule } from '../../src/local/partition.js';
import { checkHistory } from '../../src/peripherals/check.js';
import { callGrantApi, GrantPoller, type Endpoint } from '../../src/peripherals/grant-client.js';
import { toPeripheralLease, type PeripheralLease } from '../../src/peripherals/lease.js';
import { requestMove } from '../../src/peripherals/move.js';
import { ownsLabel, peripheralLeaseName } from '../../src/contract/peripherals.js';
import { historyFilesIn, readHistory } from '../../src/peripherals/read-history.js';
import { applyFixture, readyPod, rejoined, seconds, SPEC } from './failover-helpers.js';
import { eventually, startBox, type Box } from './harness.js';
import { SYSTEM_NAMESPACE } from '../../src/contract/leases.js';

/**
 * Exclusive peripherals end to end on a local box with agents and a controller. The fixture's
 * `motor-bus` (CAN, exclusive) is attached to core-1 and motor-1, and the singleton `motor`
 * uses it. A poller asks both agents for a grant every 100 ms, as the workload's device wrapper
 * would; every grant and release goes to the agents' history files, and the checker must find
 * no overlap and no token going backwards at the end.
 */
const P = 'motor-bus';
const ATTACHED = ['core-1', 'motor-1'];

describe('exclusive peripheral: one owner at a time', () => {
  let box: Box;
  let poller: GrantPoller;
  let endpoints: Endpoint[] = [];

  const lease = async (): Promise<PeripheralLease> => {
    const raw = await box.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: peripheralLeaseName(P), namespace: SYSTEM_NAMESPACE });
    return toPeripheralLease(raw)!;
  };
  const baseOf = (module: string) => endpoints.find((e) => e.module === module)!.base;
  const refreshEndpoints = async () => {
    const state = await readState(box.dir);
    endpoints = (state?.agents ?? []).filter((a) => ATTACHED.includes(a.module)).map((a) => ({ module: a.module, base: `http://${a.address}:${a.httpPort}` }));
  };
  /** Waits until `module` owns it and grants, and returns the token. */
  const granting = (module: string, timeoutMs: number) =>
    eventually(
      async () => {
        const a = await callGrantApi(baseOf(module), P, 'grant');
        expect(a, `${module} grants ${P}`).toMatchObject({ ok: true });
        return (a as { token: number }).token;
      },
      { timeoutMs, intervalMs: 100, message: `${module} granting ${P}` },
    );

  beforeAll(async () => {
    box = await startBox(SPEC, { timings: 'tuned', withAgents: true, withController: true, controlPlane: 'single' });
    await refreshEndpoints();
    poller = new GrantPoller({ peripheral: P, endpoints: () => endpoints, everyMs: 100 });
    poller.start();
    // The motor workload can only be scheduled once the controller labelled the owner.
    await applyFixture(box);
  });
  afterAll(async () => {
    poller?.stop();
    await box?.stop();
  });

  it('the first owner is the first attached module; only it grants, and its node alone carries the owner label', async () => {
    const token = await granting('core-1', 30_000);
    const l = await lease();
    expect(l).toMatchObject({ holder: 'core-1', token });
    expect(await callGrantApi(baseOf('motor-1'), P, 'grant')).toMatchObject({ ok: false, status: 409, refused: 'not-owner' });
    const motor = await readyPod(box.kc, 'motor', { timeoutMs: 30_000 });
    expect(motor.node).toBe('core-1');
    const nodes = await box.kc.makeApiClient(CoreV1Api).listNode();
    expect(nodes.items.filter((n) => n.metadata?.labels?.[ownsLabel(P)] === 'true').map((n) => n.metadata!.name)).toEqual(['core-1']);
    // The EdgeBox status lists it (what `edgebox status` and the dashboard read).
    await eventually(
      async () => {
        const eb = (await box.kc
          .makeApiClient(CustomObjectsApi)
          .getClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, name: 'failover-cell' })) as { status?: { peripherals?: unknown[] } };
        expect(eb.status?.peripherals).toContainEqual(expect.objectContaining({ name: P, owner: 'core-1', token, exclusive: true, phase: 'Owned' }));
        expect(eb.status?.peripherals).toContainEqual(expect.objectContaining({ name: 'recorder-disk', owner: null, token: 0, phase: 'Shared' }));
      },
      { timeoutMs: 15_000, message: 'status.peripherals' },
    );
  });

  it('a planned move releases first, then the new owner gets the next token, the workload follows, and the old token is refused', async () => {
    const before = await lease();
    poller.reset();
    const asked = Date.now();
    await requestMove(box.kc, P, 'motor-1');
    const token = await granting('motor-1', 20_000);
    console.info(`planned move ${before.holder} -> motor-1 in ${seconds(Date.now() - asked)}`);
    expect(token).toBe(before.token + 1);
    // The old owner stopped granting before the new one started (its release is in the history).
    const records = await readHistory(await historyFilesIn(box.dir));
    const released = records.find((r) => r.kind === 'release' && r.module === 'core-1' && r.token === before.token && r.reason === 'release-confirmed');
    const first = records.find((r) => r.kind === 'grant' && r.module === 'motor-1' && r.token === token);
    expect(released && first && released.atMs <= first.atMs, 'core-1 released before motor-1 granted').toBe(true);
    // A writer still holding the old token is refused by the agent that holds the current one.
    expect(await callGrantApi(baseOf('motor-1'), P, 'write', before.token)).toMatchObject({ ok: false, status: 409, refused: 'stale-token', current: token });
    expect(await callGrantApi(baseOf('motor-1'), P, 'write', token)).toMatchObject({ ok: true });
    expect(await callGrantApi(baseOf('core-1'), P, 'write', before.token)).toMatchObject({ ok: false, refused: 'not-owner' });
    const motor = await readyPod(box.kc, 'motor', { timeoutMs: 30_000, notOn: 'core-1' });
    expect(motor.node).toBe('motor-1');
  });

  it('the owner killed: ownership moves once it is fenced or its lease ran out, and the workload follows', async () => {
    const before = await lease();
    expect(before.holder).toBe('motor-1');
    poller.reset();
    const killedAt = Date.now();
    await killModule(box.dir, 'motor-1');
    const token = await granting('core-1', 30_000);
    const movedMs = Date.now() - killedAt;
    console.info(`owner killed -> core-1 grants token ${token} after ${seconds(movedMs)}`);
    expect(token).toBeGreaterThan(before.token);
    const motor = await readyPod(box.kc, 'motor', { timeoutMs: 60_000, notOn: 'motor-1' });
    expect(motor.node).toBe('core-1');
    await reviveModule(box.dir, 'motor-1');
    await refreshEndpoints();
    await rejoined(box.kc, 'motor-1', 60_000);
  });

  it('the owner isolated but alive: it stops granting before anyone else is granted', async () => {
    const before = await lease();
    expect(before.holder).toBe('core-1');
    // motor-1 must be a candidate again: its agent renews its view (it rejoined above).
    await eventually(async () => expect((await callGrantApi(baseOf('motor-1'), P, 'grant')).status).toBe(409), {
      timeoutMs: 10_000,
      message: 'motor-1 agent answering',
    });
    poller.reset();
    await isolateModule(box.dir, 'core-1');
    try {
      const token = await granting('motor-1', 30_000);
      expect(token).toBeGreaterThan(before.token);
      const records = await readHistory(await historyFilesIn(box.dir));
      const lastOld = records.filter((r) => r.kind === 'grant' && r.module === 'core-1').at(-1)!;
      const stop = records.find((r) => r.kind === 'release' && r.module === 'core-1' && r.token === before.token && r.atMs >= lastOld.atMs);
      const firstNew = records.find((r) => r.kind === 'grant' && r.module === 'motor-1' && r.token === token)!;
      // It stopped either by a release it recorded (its lease lapsed) or because its last grant ran
      // out first (then there was nothing left to release): whichever, before motor-1's first grant.
      const stoppedAt = stop?.atMs ?? lastOld.untilMs!;
      console.info(
        `isolated owner stopped granting at +${seconds(stoppedAt - lastOld.atMs)} after its last grant (${stop ? 'release' : 'grant ran out'}); motor-1 granted ${seconds(firstNew.atMs - stoppedAt)} later`,
      );
      expect(lastOld.untilMs!).toBeLessThanOrEqual(firstNew.atMs);
      expect(stoppedAt).toBeLessThanOrEqual(firstNew.atMs);
    } finally {
      await healModules(box.dir, { module: 'core-1' });
    }
    // Its agent was alive all along (isolated, nothing reaches it; healed, it answers) and it
    // refuses: it let go on its own.
    await eventually(async () => expect(await callGrantApi(baseOf('core-1'), P, 'grant')).toMatchObject({ ok: false, status: 409 }), {
      timeoutMs: 10_000,
      message: 'core-1 agent answering after the heal',
    });
  });

  it('the whole history has no overlapping grants and no token going backwards', async () => {
    const records = await readHistory(await historyFilesIn(box.dir));
    const result = checkHistory(records);
    expect(result.violations).toEqual([]);
    expect(result.peripherals.find((p) => p.peripheral === P)!.holders.length).toBeGreaterThanOrEqual(4);
    // The cluster's own record: an Event per assignment, with its token.
    const events = await ownershipEvents(box.kc, P);
    const tokens = events.filter((e) => e.reason === 'PeripheralAssigned').map((e) => Number(/fencing token (\d+)/.exec(e.message)?.[1]));
    expect(tokens.length).toBeGreaterThanOrEqual(4);
    // Each assignment has a token of its own (Event times have second precision: no order asserted).
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(Math.max(...tokens)).toBe((await lease()).token);
  });
});
