import { readdir, readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killModule, reviveModule } from '../../src/local/failure-injection.js';
import { readState } from '../../src/local/box-state.js';
import { k3sPaths, readUnits, runningK3s } from '../../src/local/engine/k3s-engine.js';
import { refusedFlags } from '../../src/local/engine/k3s-plan.js';
import { initialServers } from '../../src/plan/control-plane.js';
import { renderK3sConfig } from '../../src/render/k3s-config.js';
import { loadSpec } from '../../src/spec/load.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { eventually, startBox, type Box } from './harness.js';

/**
 * Real K3s servers (the K3s engine, docs/decisions/0009-k3s-engine.md) started from the files
 * `edgebox render` writes for the examples' server modules. Needs root (network namespaces) and
 * `edgebox local setup --engine k3s`. Each server takes about 430 MB and 10-20 s: one box at a time.
 */

const ETCD_NODE_NAME = 'etcd.k3s.cattle.io/node-name';
const ETCD_NODE_ADDRESS = 'etcd.k3s.cattle.io/node-address';

const netnsList = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

async function expectRenderedConfigsRan(box: Box, spec: BoxSpec): Promise<void> {
  const state = (await readState(box.dir))!;
  for (const m of initialServers(spec)) {
    const p = k3sPaths(box.dir, m.name);
    // The rendered file itself, installed where K3s reads it on a module.
    expect(await readFile(join(p.etcUpper, 'rancher', 'k3s', 'config.yaml'), 'utf8'), m.name).toBe(renderK3sConfig(spec, m));
    expect(await readdir(join(p.etcUpper, 'rancher', 'k3s', 'config.yaml.d'))).toEqual(['90-edgebox-local.yaml']);
    const log = await readFile(p.log, 'utf8');
    expect(log, `${m.name} runs ${state.k3s?.version}`).toContain(`Starting k3s ${state.k3s?.version}`);
    expect(refusedFlags(log), `config keys K3s skipped on ${m.name}`).toEqual([]);
  }
}

describe.each([['examples/turing-pi-2.yaml'], ['examples/article-box.yaml']])('K3s engine: %s', (specPath) => {
  let box: Box;
  let spec: BoxSpec;
  let core: CoreV1Api;
  let upMs: number;

  beforeAll(async () => {
    spec = (await loadSpec(specPath)).box;
    const start = Date.now();
    box = await startBox(specPath, { engine: 'k3s' });
    upMs = Date.now() - start;
    core = box.kc.makeApiClient(CoreV1Api);
  }, 400_000);
  afterAll(async () => {
    const members = Object.values((box && (await readState(box.dir)))?.k3s?.network.members ?? {});
    await box?.stop();
    // This box's own namespaces: another box on the machine (a developer's, beside CI) has its own.
    const left = netnsList();
    for (const m of members) expect(left).not.toMatch(new RegExp(`^${m.netns}( |$)`, 'm'));
  }, 120_000);

  it('starts every server module as a real k3s server from its rendered config.yaml, no key skipped', async () => {
    process.stderr.write(`${specPath}: up --engine k3s in ${(upMs / 1000).toFixed(1)} s\n`);
    await expectRenderedConfigsRan(box, spec);
  });

  it("makes every node Ready; K3s's own etcd metadata controller annotates each server module's Node", async () => {
    const nodes = (await core.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual(spec.spec.modules.map((m) => m.name).sort());
    for (const n of nodes) expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, n.metadata?.name).toBe('True');
    const state = (await readState(box.dir))!;
    for (const m of initialServers(spec)) {
      await eventually(
        async () => {
          const n = await core.readNode({ name: m.name });
          expect(n.metadata?.labels?.['node-role.kubernetes.io/etcd']).toBe('true');
          expect(n.metadata?.annotations?.[ETCD_NODE_ADDRESS]).toBe(state.k3s!.network.members[m.name]!.address);
          expect(n.metadata?.annotations?.[ETCD_NODE_NAME]).toMatch(new RegExp(`^${m.name}-[0-9a-f]{8}$`));
        },
        { timeoutMs: 30_000, message: `${m.name} carries K3s's etcd labels and annotations` },
      );
    }
  });

  it('keeps serving and writing with one server killed, and removes its etcd member through K3s on the remove annotation', async () => {
    const [victim] = initialServers(spec);
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'before-kill' }, data: { a: '1' } } });
    expect((await killModule(box.dir, victim!.name)).changed).toBe(true);
    await eventually(() => core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'after-kill' }, data: { a: '2' } } }), {
      timeoutMs: 30_000,
      message: 'the other servers accept writes',
    });
    expect((await core.readNamespacedConfigMap({ namespace: 'default', name: 'before-kill' })).data).toEqual({ a: '1' });
    // What the `k3s` role driver and the runbook do for a dead server: K3s's own removal annotation.
    await core.patchNode(
      { name: victim!.name, body: { metadata: { annotations: { 'etcd.k3s.cattle.io/remove': 'true' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually(
      async () => {
        const n = await core.readNode({ name: victim!.name });
        expect(n.metadata?.annotations?.['etcd.k3s.cattle.io/removed-node-name']).toMatch(new RegExp(`^${victim!.name}-`));
      },
      { timeoutMs: 60_000, message: `K3s removed ${victim!.name}'s etcd member` },
    );
    expect((await core.readNamespacedConfigMap({ namespace: 'default', name: 'after-kill' })).data).toEqual({ a: '2' });

    // Powered on again, its enabled k3s unit does not start K3s on the stale data: the start
    // condition (render's drop-in) waits for the flag on /run, which a boot emptied and only the
    // module's agent writes (none runs in this box).
    expect((await reviveModule(box.dir, victim!.name)).changed).toBe(true);
    await new Promise((r) => setTimeout(r, 5000));
    const state = (await readState(box.dir))!;
    expect(await runningK3s(state)).not.toContain(victim!.name);
    expect((await readUnits(box.dir, victim!.name)).server.enabled).toBe(true);
  });
});
