import { describe, expect, it } from 'vitest';
import { parseFacts, type ModuleFacts } from '../../src/install/facts.js';
import { agentFiles, agentMarker, k3sFiles, planInstall, type Step } from '../../src/install/plan.js';
import { k3sRoles } from '../../src/render/k3s-config.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { installInputs, sha256 } from './install-fixtures.js';
import { labBox } from './render-fixtures.js';

const inputs = installInputs('k3s-digest', 'agent-digest');

/** A module with nothing installed. */
function bare(): ModuleFacts {
  return parseFacts(
    ['machine=aarch64', 'os=Debian', 'glibc=2.36', 'memtotal_kib=8000000', 'disk_free_kib=50000000', 'clock_ms=1000', 'systemd=yes', 'cgroup=cpu memory'].join(
      '\n',
    ),
    1000,
    1000,
  );
}

/** A module as install leaves it: every file in place, its units running. */
function installed(box: BoxSpec, name: string, o: { agentEnabled?: boolean } = {}): ModuleFacts {
  const m = box.spec.modules.find((x) => x.name === name)!;
  const role = k3sRoles(box).get(name)!;
  const f = bare();
  for (const file of [...k3sFiles(box, m, role, 'arm64', inputs), ...agentFiles(box, m, inputs)]) f.files[file.path] = file.sha256;
  f.files[agentMarker('0.1.0')] = sha256('agent-digest\n');
  f.files['/etc/edgebox/agent-kubeconfig.yaml'] = 'x';
  const unit = role === 'agent' ? 'k3s-agent' : 'k3s';
  f.units[unit] = { loaded: true, active: true, enabled: true };
  f.units['edgebox-agent'] = { loaded: true, active: true, enabled: o.agentEnabled ?? true };
  f.k3sServerData = role !== 'agent';
  return f;
}

const all = (box: BoxSpec, f: (name: string) => ModuleFacts) => new Map(box.spec.modules.map((m) => [m.name, f(m.name)]));
const arm = (box: BoxSpec) => new Map(box.spec.modules.map((m) => [m.name, 'arm64' as const]));
const steps = (p: ReturnType<typeof planInstall>): Step[] => p.phases.flatMap((x) => x.steps);

describe('install plan', () => {
  it('installs a bare box: the first server, then each server gated on its voter, then agents, objects, edgebox agents', () => {
    const box = labBox();
    const plan = planInstall(box, all(box, bare), arm(box), inputs);
    const servers = plan.phases[0]!;
    expect(servers.parallel).toBe(false);
    // Starts and gates only, in order: the join order K3s users get wrong.
    expect(servers.steps.filter((s) => s.kind !== 'write').map((s) => `${s.kind} ${s.module}`)).toEqual([
      'start s1',
      'wait-api s1',
      'start s2',
      'wait-voter s2',
      'start s3',
      'wait-voter s3',
    ]);
    // No server's files are written before the previous server is a voter.
    const firstWriteOfS3 = servers.steps.findIndex((s) => s.module === 's3');
    expect(servers.steps.findIndex((s) => s.kind === 'wait-voter' && s.module === 's2')).toBeLessThan(firstWriteOfS3);
    expect(plan.phases[1]!.steps.filter((s) => s.kind === 'start').map((s) => s.module)).toEqual(['gpu-1', 'a1']);
    expect(plan.phases[2]!.steps).toEqual([{ kind: 'apply', module: 's1' }]);
    expect(plan.phases[3]!.steps.filter((s) => s.kind === 'start').map((s) => s.module)).toEqual(['s3', 's1', 's2', 'gpu-1', 'a1']);
  });

  it('joins through the first server, not the API address that only answers once kube-vip runs', () => {
    const box = labBox({ apiAddress: '10.0.0.100' });
    const s2 = box.spec.modules.find((m) => m.name === 's2')!;
    const config = k3sFiles(box, s2, 'server', 'arm64', inputs).find((f) => f.path === '/etc/rancher/k3s/config.yaml')!;
    expect(config.source.kind === 'text' && config.source.text).toMatch(/server: https:\/\/10\.0\.0\.1:6443/);
    expect(config.source.kind === 'text' && config.source.text).toMatch(/10\.0\.0\.100/); // tls-san
  });

  it('with an API address, gives every module that may serve kube-vip: its identity (after the objects), then its static pod', () => {
    const box = labBox({ apiAddress: '10.0.0.100' });
    const plan = planInstall(box, all(box, bare), arm(box), inputs);
    expect(plan.phases[2]!.steps).toEqual([{ kind: 'apply', module: 's1' }]);
    const vip = plan.phases[3]!.steps.filter(
      (s) => s.kind === 'kube-vip-kubeconfig' || (s.kind === 'write' && s.file.path.endsWith('/pod-manifests/kube-vip.yaml')),
    );
    expect(vip.map((s) => `${s.kind} ${s.module}`)).toEqual([
      'kube-vip-kubeconfig s3',
      'write s3',
      'kube-vip-kubeconfig s1',
      'write s1',
      'kube-vip-kubeconfig s2',
      'write s2',
    ]);
    // Installed: nothing again.
    const done = all(box, (n) => installed(box, n));
    for (const m of ['s1', 's2', 's3']) {
      const f = done.get(m)!;
      f.files['/etc/rancher/k3s/kube-vip.kubeconfig'] = 'x';
      const pod = plan.phases[3]!.steps.find((s) => s.module === m && s.kind === 'write' && s.file.path.endsWith('kube-vip.yaml'));
      if (pod?.kind === 'write') f.files[pod.file.path] = pod.file.sha256;
    }
    expect(steps(planInstall(box, done, arm(box), inputs))).toEqual([]);
  });

  it('writes the token and the box secret 0600, from the secret and never as text in the plan', () => {
    const box = labBox();
    const written = steps(planInstall(box, all(box, bare), arm(box), inputs)).filter((s): s is Extract<Step, { kind: 'write' }> => s.kind === 'write');
    for (const path of ['/etc/rancher/k3s/edgebox-token', '/etc/edgebox/box-secret']) {
      const ws = written.filter((s) => s.file.path === path);
      expect(ws.length).toBe(5);
      for (const w of ws) {
        expect(w.file.mode).toBe(0o600);
        expect(w.file.source.kind).toBe('secret');
      }
    }
  });

  it('gives a module that may serve both K3s units and, with its agent, the drop-in that leaves K3s starts to the agent', () => {
    const box = labBox();
    const s1 = box.spec.modules.find((m) => m.name === 's1')!;
    const a1 = box.spec.modules.find((m) => m.name === 'a1')!;
    expect(k3sFiles(box, s1, 'cluster-init', 'arm64', inputs).map((f) => f.path)).toContain('/etc/systemd/system/k3s.service');
    expect(agentFiles(box, s1, inputs).map((f) => f.path)).toContain('/etc/systemd/system/k3s.service.d/10-edgebox.conf');
    expect(agentFiles(box, a1, inputs).map((f) => f.path)).not.toContain('/etc/systemd/system/k3s.service.d/10-edgebox.conf');
    expect(k3sFiles(box, a1, 'agent', 'arm64', inputs).map((f) => f.path)).not.toContain('/etc/systemd/system/k3s.service');
  });

  it('changes nothing on an installed box', () => {
    const box = labBox();
    const plan = planInstall(
      box,
      all(box, (n) => installed(box, n)),
      arm(box),
      inputs,
    );
    expect(steps(plan)).toEqual([]);
  });

  it('resumes a run killed after the first server: the first is only gated, the second starts', () => {
    const box = labBox();
    const facts = all(box, bare);
    const s1 = installed(box, 's1', { agentEnabled: false });
    s1.units['edgebox-agent'] = { loaded: false, active: false, enabled: false };
    facts.set('s1', s1);
    const s2 = bare();
    const half = k3sFiles(
      box,
      box.spec.modules.find((m) => m.name === 's2')!,
      'server',
      'arm64',
      inputs,
    );
    s2.files[half[0]!.path] = half[0]!.sha256; // the binary was copied, nothing else
    facts.set('s2', s2);
    const servers = planInstall(box, facts, arm(box), inputs).phases[0]!.steps;
    expect(servers[0]).toEqual({ kind: 'wait-api', module: 's1' });
    expect(servers.filter((s) => s.module === 's2' && s.kind === 'write').map((s) => s.kind === 'write' && s.file.path)).not.toContain(half[0]!.path);
    expect(servers.some((s) => s.kind === 'start' && s.module === 's2')).toBe(true);
  });

  it('never rewrites the K3s role of a module whose edgebox agent runs: the guardian may have promoted it', () => {
    const box = labBox();
    const facts = all(box, (n) => installed(box, n));
    // gpu-1 was promoted: its config.yaml is a server's now, and k3s runs instead of k3s-agent.
    const gpu = facts.get('gpu-1')!;
    gpu.files['/etc/rancher/k3s/config.yaml'] = 'promoted';
    gpu.units['k3s-agent'] = { loaded: true, active: false, enabled: false };
    gpu.units.k3s = { loaded: true, active: true, enabled: true };
    // s3 is stopped with data: whether it may start (a stale member?) is its agent's decision.
    facts.get('s3')!.units.k3s = { loaded: true, active: false, enabled: true };
    const plan = planInstall(box, facts, arm(box), inputs);
    expect(steps(plan)).toEqual([]);
  });

  it('restarts a running unit whose files changed, and only that module', () => {
    const box = labBox();
    const facts = all(box, (n) => installed(box, n));
    facts.get('a1')!.files['/etc/systemd/system/edgebox-agent.service'] = 'old';
    const plan = steps(planInstall(box, facts, arm(box), inputs));
    expect(plan.map((s) => `${s.kind} ${s.module}`)).toEqual(['write a1', 'start a1']);
    expect(plan[1]).toMatchObject({ unit: 'edgebox-agent', restart: true });
  });

  it('unpacks the runtime again when its marker is missing (an unpack cut short), without copying the archive twice', () => {
    const box = labBox();
    const facts = all(box, (n) => installed(box, n));
    const f = facts.get('s2')!;
    delete f.files[agentMarker('0.1.0')];
    f.files['/var/lib/edgebox/artifacts/edgebox-agent-0.1.0-linux-arm64.tar.gz'] = 'agent-digest';
    expect(steps(planInstall(box, facts, arm(box), inputs)).map((s) => s.kind)).toEqual(['unpack', 'start']);
  });
});

describe('install plan: the BMC login', () => {
  const withBmc = { ...inputs, bmc: { envSha256: 'bmc-env-digest', ca: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n' } };

  it("gives every module's agent the login 0600 from the secret, never as text, and the certificate; the controller its Secret after the objects", () => {
    const box = labBox();
    const plan = planInstall(box, all(box, bare), arm(box), withBmc);
    const writes = plan.phases[3]!.steps.filter((s): s is Extract<Step, { kind: 'write' }> => s.kind === 'write' && s.file.path.startsWith('/etc/edgebox/bmc'));
    expect(writes.filter((w) => w.file.path === '/etc/edgebox/bmc.env').map((w) => w.module)).toEqual(box.spec.modules.map((m) => m.name));
    for (const w of writes.filter((x) => x.file.path === '/etc/edgebox/bmc.env'))
      expect(w.file).toMatchObject({ mode: 0o600, source: { kind: 'secret', name: 'bmc-env' } });
    expect(writes.filter((w) => w.file.path === '/etc/edgebox/bmc-ca.crt')).toHaveLength(box.spec.modules.length);
    expect(plan.phases[2]!.steps).toEqual([
      { kind: 'apply', module: 's1' },
      { kind: 'bmc-secret', module: 's1' },
    ]);
  });

  it('changes nothing once installed; a new login rewrites the file, restarts every agent and replaces the Secret', () => {
    const box = labBox();
    const done = (name: string) => {
      const f = installed(box, name);
      for (const file of agentFiles(
        box,
        box.spec.modules.find((m) => m.name === name)!,
        withBmc,
      ))
        f.files[file.path] = file.sha256;
      return f;
    };
    expect(steps(planInstall(box, all(box, done), arm(box), withBmc))).toEqual([]);
    const changed = planInstall(box, all(box, done), arm(box), { ...withBmc, bmc: { ...withBmc.bmc, envSha256: 'new-login-digest' } });
    expect(changed.phases[2]!.steps).toEqual([{ kind: 'bmc-secret', module: 's1' }]);
    expect(changed.phases[3]!.steps.filter((s) => s.kind === 'start').map((s) => `${s.module} ${s.kind === 'start' && s.restart}`)).toEqual(
      box.spec.modules.map((m) => `${m.name} true`),
    );
  });

  it('writes no login and no Secret without one', () => {
    const box = labBox();
    const plan = planInstall(box, all(box, bare), arm(box), inputs);
    expect(steps(plan).filter((s) => s.kind === 'bmc-secret' || (s.kind === 'write' && s.file.path.startsWith('/etc/edgebox/bmc')))).toEqual([]);
  });
});

describe('install facts', () => {
  it('parses the probe: ports in hex, units, digests, the clock at the middle of the round trip', () => {
    const f = parseFacts(
      [
        'machine=x86_64',
        'memtotal_kib=2048',
        'disk_free_kib=1',
        'clock_ms=5000',
        'listening=1920 0016 1920 ',
        'unit=k3s yes active enabled',
        'unit=edgebox-agent no inactive disabled',
        'file=abc /etc/x y',
        'k3s_server_data=yes',
      ].join('\n'),
      1000,
      3000,
    );
    expect(f.listening).toEqual([22, 6432]);
    expect(f.clockOffsetMs).toBe(3000);
    expect(f.memTotalBytes).toBe(2048 * 1024);
    expect(f.units.k3s).toEqual({ loaded: true, active: true, enabled: true });
    expect(f.units['edgebox-agent']).toEqual({ loaded: false, active: false, enabled: false });
    expect(f.files['/etc/x y']).toBe('abc');
    expect(f.k3sServerData).toBe(true);
    expect(f.glibc).toBeUndefined();
  });
});
