import { describe, expect, it } from 'vitest';
import { renderBox } from '../../src/render/render-box.js';
import { isRenderedPath } from '../../src/render/output-dir.js';
import { joinUrl, k3sRoles } from '../../src/render/k3s-config.js';
import { labBox } from './render-fixtures.js';

const unitOf = (module: string) => renderBox(labBox()).find((f) => f.path === `systemd/${module}/edgebox-agent.service`)?.content ?? '';
const lines = (text: string) => text.split('\n');

describe('systemd unit of the agent', () => {
  it('is rendered for every module, at a path render may later remove', () => {
    const box = labBox();
    const units = renderBox(box).filter((f) => f.path.endsWith('/edgebox-agent.service'));
    expect(units.map((f) => f.path)).toEqual(box.spec.modules.map((m) => `systemd/${m.name}/edgebox-agent.service`).sort());
    for (const u of units) expect(isRenderedPath(u.path)).toBe(true);
  });

  it("K3s's drop-in, on every module that may serve: k3s.service starts only while the agent's flag on /run exists", () => {
    const box = labBox();
    const dropIns = renderBox(box).filter((f) => f.path.includes('/k3s.service.d/'));
    expect(dropIns.map((f) => f.path)).toEqual(
      box.spec.modules
        .filter((m) => m.roles.includes('server'))
        .map((m) => `systemd/${m.name}/k3s.service.d/10-edgebox.conf`)
        .sort(),
    );
    for (const d of dropIns) {
      expect(isRenderedPath(d.path)).toBe(true);
      expect(lines(d.content)).toEqual(expect.arrayContaining(['[Unit]', 'ConditionPathExists=/run/edgebox/k3s-may-start']));
    }
    // The agent may write that flag: /run/edgebox is its runtime directory, kept across its restarts.
    expect(lines(unitOf('s1'))).toEqual(expect.arrayContaining(['RuntimeDirectory=edgebox', 'RuntimeDirectoryPreserve=yes']));
  });

  it('starts after the network and the clock, never waits for or stops with K3s, and always restarts', () => {
    const unit = lines(unitOf('s1'));
    expect(unit).toContain('After=network-online.target time-sync.target');
    expect(unit).toContain('Wants=network-online.target');
    expect(unit).toContain('Restart=always');
    expect(unit).toContain('StartLimitIntervalSec=0');
    expect(unit).toContain('WantedBy=multi-user.target');
    // No ordering or dependency on k3s: a K3s restart must not stop the heartbeats.
    expect(unit.filter((l) => /^(After|Requires|BindsTo|PartOf|Wants|Requisite)=/.test(l) && /k3s/.test(l))).toEqual([]);
  });

  it("runs the module's agent with the spec and secret paths and one kubeconfig on every module, roles change at run time", () => {
    const roles = k3sRoles(labBox());
    expect(roles.get('s1')).not.toBe('agent');
    expect(roles.get('a1')).toBe('agent');
    for (const m of ['s1', 'a1']) {
      const run = lines(unitOf(m)).find((l) => l.startsWith('ExecStart='));
      expect(run).toMatch(
        new RegExp(
          `^ExecStart=/usr/bin/env edgebox agent run --spec /etc/edgebox/box.yaml --module ${m} --secret-file /etc/edgebox/box-secret --kubeconfig /etc/edgebox/agent-kubeconfig.yaml `,
        ),
      );
      expect(run).toMatch(/ --role-driver k3s --runtime k3s$/);
    }
  });

  it('falls back to every other module that may serve, never to one that may not', () => {
    const box = labBox();
    const run = lines(unitOf('a1')).find((l) => l.startsWith('ExecStart='))!;
    const listed = / --api-servers (\S+)/.exec(run)?.[1]?.split(',') ?? [];
    const first = joinUrl(box);
    const mayServe = box.spec.modules.filter((m) => m.roles.includes('server')).map((m) => `https://${m.address}:6443`);
    expect(listed).toEqual(mayServe.filter((u) => u !== first));
    expect(listed).not.toContain(first);
  });

  it("may write only what the k3s role driver changes: K3s's config and data dirs", () => {
    const unit = lines(unitOf('a1'));
    expect(unit).toContain('ProtectSystem=strict');
    expect(unit).toContain('ReadWritePaths=-/etc/rancher/k3s -/var/lib/rancher/k3s');
    // The peripheral grant history.
    expect(unit).toContain('StateDirectory=edgebox');
  });

  it('publishes hardware discovery before each start, never blocking the heartbeats on it', () => {
    expect(lines(unitOf('s1'))).toContain(
      'ExecStartPre=-/usr/bin/env edgebox agent publish --node s1 --spec /etc/edgebox/box.yaml --kubeconfig /etc/edgebox/agent-kubeconfig.yaml',
    );
  });
});
