import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFacts, type ModuleFacts } from '../../src/install/facts.js';
import { planUninstall, removeK3sDataCommand } from '../../src/install/uninstall-plan.js';
import { labBox } from './render-fixtures.js';

function facts(o: { server?: boolean; nothing?: boolean } = {}): ModuleFacts {
  const f = parseFacts('machine=aarch64\nsystemd=yes', 0, 0);
  if (o.nothing) return f;
  f.units = { 'edgebox-agent': { loaded: true, active: true, enabled: true }, [o.server ? 'k3s' : 'k3s-agent']: { loaded: true, active: true, enabled: true } };
  f.files['/usr/local/bin/k3s'] = 'x';
  f.k3sServerData = o.server === true;
  return f;
}

describe('uninstall plan', () => {
  const box = labBox();
  const all = (f: (name: string) => ModuleFacts) => new Map(box.spec.modules.map((m) => [m.name, f(m.name)]));

  it('stops the agent before K3s, removes what install wrote and keeps the snapshots', () => {
    const { steps, refusals } = planUninstall(
      box,
      all((n) => facts({ server: n.startsWith('s') })),
      { deleteSnapshots: false, deleteHistory: false },
    );
    expect(refusals).toEqual([]);
    const s1 = steps.filter((s) => s.module === 's1');
    expect(s1.map((s) => s.kind)).toEqual(['stop', 'remove', 'remove-k3s-data']);
    expect(s1[0]).toMatchObject({ units: ['edgebox-agent', 'k3s'] });
    expect(s1[2]).toMatchObject({ keepSnapshots: true });
    const removed = s1[1]!.kind === 'remove' ? s1[1]!.paths : [];
    expect(removed).toContain('/etc/rancher/k3s/edgebox-token');
    expect(removed).not.toContain('/var/lib/edgebox');
  });

  it('refuses one running server of the box: the cluster would be a voter short', () => {
    const { refusals } = planUninstall(
      box,
      all((n) => facts({ server: n.startsWith('s') })),
      { modules: ['s2'], deleteSnapshots: false, deleteHistory: false },
    );
    expect(refusals.map((r) => r.module)).toEqual(['s2']);
    expect(refusals[0]!.hint).toMatch(/edgebox drain s2/);
    expect(
      planUninstall(
        box,
        all(() => facts()),
        { modules: ['a1'], deleteSnapshots: false, deleteHistory: false },
      ).refusals,
    ).toEqual([]);
  });

  it('does nothing on modules with nothing installed', () => {
    expect(
      planUninstall(
        box,
        all(() => facts({ nothing: true })),
        { deleteSnapshots: false, deleteHistory: false },
      ).steps,
    ).toEqual([]);
  });

  it("removes K3s's data dir but server/db/snapshots, and leaves nothing when there is no snapshot", () => {
    const root = mkdtempSync(join(tmpdir(), 'edgebox-uninstall-'));
    try {
      for (const [host, snapshot] of [
        ['with', true],
        ['without', false],
      ] as const) {
        const data = join(root, host, 'var/lib/rancher/k3s');
        for (const d of ['server/db/etcd/member/wal', 'server/tls/etcd', 'agent/etc', 'data/abc/bin']) mkdirSync(join(data, d), { recursive: true });
        writeFileSync(join(data, 'server/token'), 'secret');
        if (snapshot) {
          mkdirSync(join(data, 'server/db/snapshots'), { recursive: true });
          writeFileSync(join(data, 'server/db/snapshots/edgebox-before-x-s1-1'), 'snap');
        }
        const script = removeK3sDataCommand(true).replaceAll('/var/lib/rancher/k3s', data);
        execFileSync('sh', ['-c', script]);
        expect(readdirSync(data, { recursive: true }).sort(), host).toEqual(
          snapshot ? ['server', 'server/db', 'server/db/snapshots', 'server/db/snapshots/edgebox-before-x-s1-1'] : [],
        );
        execFileSync('sh', ['-c', script]); // again: nothing changes, no error
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
