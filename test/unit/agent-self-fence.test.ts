import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { pathCounter } from './path-counter.js';
import type { CommandResult, CommandRunner } from '../../src/agent/role/command-runner.js';
import { decideSelfFence, inMinority, type SelfFenceInput } from '../../src/agent/self-fence/decide.js';
import { k3sRuntime } from '../../src/agent/self-fence/k3s-runtime.js';
import { localRuntime, readRuntimeRecords } from '../../src/agent/self-fence/local-runtime.js';
import type { RuntimeDriver } from '../../src/agent/self-fence/runtime.js';
import { SelfFence } from '../../src/agent/self-fence/self-fence-loop.js';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { majorityOf } from '../../src/base/majority.js';

const B = 3000;
const base: SelfFenceInput = { modules: 5, reachablePeers: 4, lastApiWrite: 10_000, startedAt: 0, now: 10_500, boundMs: B, fenced: false };

describe('self-fence decision', () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [5, 3],
    [6, 4],
  ])('a box of %i modules: a majority is %i', (n, m) => expect(majorityOf(n)).toBe(m));

  it.each<{ name: string; i: Partial<SelfFenceInput>; expected: string }>([
    { name: 'hears everyone, API fresh: runs', i: {}, expected: 'stay' },
    { name: 'hears 2 of 4 peers (3 of 5 with itself): a majority, even with the API gone', i: { reachablePeers: 2, now: 20_000 }, expected: 'stay' },
    { name: 'hears 1 of 4 peers, API written 2 s ago: not yet', i: { reachablePeers: 1, now: 12_000 }, expected: 'stay' },
    { name: 'hears 1 of 4 peers, API written exactly B ago: not yet', i: { reachablePeers: 1, now: 13_000 }, expected: 'stay' },
    { name: 'hears 1 of 4 peers, API written more than B ago: fence', i: { reachablePeers: 1, now: 13_001 }, expected: 'fence' },
    { name: 'hears nobody, never wrote to the API, started long ago: fence', i: { reachablePeers: 0, lastApiWrite: null, now: 5000 }, expected: 'fence' },
    { name: 'hears nobody, never wrote, just started: not yet', i: { reachablePeers: 0, lastApiWrite: null, now: 2000 }, expected: 'stay' },
    { name: 'a single-module box is always its own majority', i: { modules: 1, reachablePeers: 0, now: 60_000 }, expected: 'stay' },
    { name: 'two modules, the peer lost and the API lost: fence', i: { modules: 2, reachablePeers: 0, now: 20_000 }, expected: 'fence' },
    { name: 'fenced, back in a majority and a write just succeeded: lift', i: { fenced: true, now: 11_000 }, expected: 'lift' },
    { name: 'fenced, back in a majority but the API still unreachable: stays fenced', i: { fenced: true, now: 20_000 }, expected: 'stay' },
    { name: 'fenced, the API reachable but still in a minority: stays fenced', i: { fenced: true, reachablePeers: 1 }, expected: 'stay' },
    { name: 'fenced and never reached the API: stays fenced', i: { fenced: true, lastApiWrite: null, now: 1000 }, expected: 'stay' },
  ])('$name', ({ i, expected }) => {
    expect(decideSelfFence({ ...base, ...i })).toBe(expected);
  });

  const input = fc
    .record({
      modules: fc.integer({ min: 1, max: 9 }),
      peersFrac: fc.double({ min: 0, max: 1, noNaN: true }),
      lastApiWrite: fc.option(fc.integer({ min: 0, max: 100_000 })),
      startedAt: fc.integer({ min: 0, max: 100_000 }),
      ahead: fc.integer({ min: 0, max: 100_000 }),
      boundMs: fc.integer({ min: 1000, max: 300_000 }),
      fenced: fc.boolean(),
    })
    .map(({ modules, peersFrac, lastApiWrite, startedAt, ahead, boundMs, fenced }): SelfFenceInput => ({
      modules,
      reachablePeers: Math.round(peersFrac * (modules - 1)),
      lastApiWrite,
      startedAt,
      now: Math.max(startedAt, lastApiWrite ?? 0) + ahead,
      boundMs,
      fenced,
    }));
  const nextFenced = (i: SelfFenceInput) => {
    const v = decideSelfFence(i);
    return v === 'fence' ? true : v === 'lift' ? false : i.fenced;
  };

  it('never fenced while in a majority with an API write within the bound', () => {
    const paths = pathCounter();
    fc.assert(
      fc.property(input, (i) => {
        const covered = !inMinority(i) && i.lastApiWrite !== null && i.now - i.lastApiWrite <= i.boundMs;
        paths.count(covered && 'majority, recent write', covered && i.fenced && 'majority, recent write, fenced before');
        if (covered) expect(nextFenced(i)).toBe(false);
      }),
      { numRuns: 2000 },
    );
    // About 11 % and 5 % of the runs.
    expect(paths.share('majority, recent write')).toBeGreaterThanOrEqual(0.08);
    expect(paths.share('majority, recent write, fenced before')).toBeGreaterThanOrEqual(0.03);
  });

  it('never fences itself before the bound has passed since its last API write (or its start)', () => {
    const paths = pathCounter();
    fc.assert(
      fc.property(input, (i) => {
        paths.count(decideSelfFence(i) === 'fence' && 'fence');
        if (decideSelfFence(i) === 'fence') {
          expect(inMinority(i)).toBe(true);
          expect(i.now - (i.lastApiWrite ?? i.startedAt)).toBeGreaterThan(i.boundMs);
        }
      }),
      { numRuns: 2000 },
    );
    // About 12 % of the runs.
    expect(paths.share('fence')).toBeGreaterThanOrEqual(0.09);
  });
});

/** A runner that answers by the command line and records every call. */
function fakeRunner(answers: Record<string, Partial<CommandResult>> = {}): Pick<CommandRunner, 'run'> & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: async (argv) => {
      const line = argv.join(' ');
      calls.push(line);
      const hit = Object.entries(answers).find(([prefix]) => line.startsWith(prefix))?.[1] ?? {};
      return { code: 0, stdout: '', stderr: '', ...hit };
    },
  };
}

const PODS_JSON = JSON.stringify({
  items: [
    { id: 'sb-motor', metadata: { name: 'motor-controller-0', namespace: 'vision-cell' } },
    { id: 'sb-plc', metadata: { name: 'plc-7d9f-x2', namespace: 'vision-cell' } },
  ],
});
const LIST = 'k3s crictl pods --label edgebox.dev/singleton=true --state ready -o json';

describe('k3s runtime driver: command sequences', () => {
  it('fence on an agent module: freeze the kubelet (k3s-agent), then stop the singleton sandboxes', async () => {
    const r = fakeRunner({ 'systemctl is-active --quiet k3s': { code: 3 }, [LIST]: { stdout: PODS_JSON } });
    expect(await k3sRuntime(r).fence()).toEqual(['vision-cell/motor-controller-0', 'vision-cell/plc-7d9f-x2']);
    expect(r.calls).toEqual([
      'systemctl is-active --quiet k3s',
      'systemctl kill --kill-who=main --signal=SIGSTOP k3s-agent',
      LIST,
      'k3s crictl stopp sb-motor sb-plc',
    ]);
  });

  it('fence on a server module freezes k3s; nothing to stop when no singleton runs', async () => {
    const r = fakeRunner({ [LIST]: { stdout: '{"items":[]}' } });
    expect(await k3sRuntime(r).fence()).toEqual([]);
    expect(r.calls).toEqual(['systemctl is-active --quiet k3s', 'systemctl kill --kill-who=main --signal=SIGSTOP k3s', LIST]);
  });

  it('keepFenced repeats the fence (idempotent), so a K3s restarted by hand is frozen again', async () => {
    const r = fakeRunner({ [LIST]: { stdout: '{"items":[]}' } });
    await k3sRuntime(r).keepFenced();
    expect(r.calls).toContain('systemctl kill --kill-who=main --signal=SIGSTOP k3s');
  });

  it('lift thaws the kubelet', async () => {
    const r = fakeRunner({ 'systemctl is-active --quiet k3s': { code: 3 } });
    await k3sRuntime(r).lift();
    expect(r.calls).toEqual(['systemctl is-active --quiet k3s', 'systemctl kill --kill-who=main --signal=SIGCONT k3s-agent']);
  });

  it.each([
    ['T (stopped)', 'T', true],
    ['Ssl (running)', 'Ssl', false],
  ])('isFenced reads the main process state: %s', async (_, stat, fenced) => {
    const r = fakeRunner({ 'systemctl show': { stdout: '4242\n' }, 'ps -o stat=': { stdout: `${stat}\n` } });
    expect(await k3sRuntime(r).isFenced()).toBe(fenced);
    expect(r.calls.slice(1)).toEqual(['systemctl show --property=MainPID --value k3s', 'ps -o stat= -p 4242']);
  });

  it('isFenced without a running K3s (MainPID 0) is false', async () => {
    expect(await k3sRuntime(fakeRunner({ 'systemctl show': { stdout: '0\n' } })).isFenced()).toBe(false);
  });

  it('a failing crictl is a diagnostic naming the command', async () => {
    const r = fakeRunner({ [LIST]: { code: 1, stderr: 'connect: connection refused' } });
    const e = await k3sRuntime(r)
      .fence()
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EdgeboxError);
    expect((e as EdgeboxError).diagnostics[0]).toMatchObject({ code: 'agent.self-fence-failed' });
    expect((e as EdgeboxError).diagnostics[0]!.message).toContain('connection refused');
  });
});

describe('local runtime driver', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('records stop and resume with their pods, and reads the fence back after a restart', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgebox-rt-'));
    const file = join(dir, 'modules', 'm1', 'runtime.jsonl');
    let t = Date.parse('2026-03-01T12:00:00.000Z');
    const rt = localRuntime({ file, module: 'm1', listPods: async () => ['t/motor-0'], wallNow: () => t });
    expect(await rt.isFenced()).toBe(false);
    expect(await rt.fence()).toEqual(['t/motor-0']);
    expect(await rt.isFenced()).toBe(true);
    t += 5000;
    await rt.lift();
    expect(await rt.isFenced()).toBe(false);
    expect(await readRuntimeRecords(file)).toEqual([
      { at: '2026-03-01T12:00:00.000Z', module: 'm1', action: 'stop', pods: ['t/motor-0'] },
      { at: '2026-03-01T12:00:05.000Z', module: 'm1', action: 'resume', pods: [] },
    ]);
  });

  it('a pod list that fails still records the fence, with the error', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgebox-rt-'));
    const file = join(dir, 'runtime.jsonl');
    await localRuntime({ file, module: 'm1', listPods: () => Promise.reject(new Error('API down')) }).fence();
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ action: 'stop', pods: [], error: 'API down' });
  });
});

describe('the self-fence loop', () => {
  function recordingRuntime(): RuntimeDriver & { calls: string[] } {
    const calls: string[] = [];
    return {
      name: 'local',
      calls,
      isFenced: async () => false,
      fence: async () => {
        calls.push('fence');
        return ['t/motor-0'];
      },
      keepFenced: async () => {
        calls.push('keep');
        return [];
      },
      lift: async () => {
        calls.push('lift');
      },
    };
  }

  it('fences when cut off past the bound, reports it, keeps it, and lifts it when back', async () => {
    let now = 0;
    let peers = 4;
    let lastWrite: number | null = 0;
    const runtime = recordingRuntime();
    const logs: string[] = [];
    const f = new SelfFence({
      modules: 5,
      boundMs: B,
      checkEveryMs: 200,
      runtime,
      reachablePeers: () => peers,
      lastApiWrite: () => lastWrite,
      startedAt: 0,
      monoNow: () => now,
      wallNow: () => Date.parse('2026-03-01T12:00:00.000Z') + now,
      log: (_l, msg) => logs.push(msg),
    });
    peers = 1;
    now = 3000;
    await f.check();
    expect(f.report).toBeNull();
    now = 3200;
    await f.check();
    expect(f.report).toEqual({ since: '2026-03-01T12:00:03.200Z', pods: ['t/motor-0'] });
    now = 4300;
    await f.check();
    peers = 4;
    lastWrite = 5000;
    now = 5100;
    await f.check();
    expect(f.report).toBeNull();
    expect(runtime.calls).toEqual(['fence', 'keep', 'lift']);
    expect(logs).toContain('self-fenced');
  });
});
