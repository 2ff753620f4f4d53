import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readState, type BoxState } from '../../src/local/box-state.js';
import { k3sPaths } from '../../src/local/engine/k3s-engine.js';
import { apiUrl } from '../../src/local/engine/k3s-plan.js';
import { execOnModule } from '../../src/local/engine/k3s-shell.js';
import { killModule } from '../../src/local/failure-injection.js';
import { initialServers } from '../../src/plan/control-plane.js';
import { renderK3sConfig } from '../../src/render/k3s-config.js';
import { loadSpec } from '../../src/spec/load.js';
import { eventually, startBox, type Box } from './harness.js';

/**
 * docs/runbooks/control-plane.md followed step by step on real K3s servers, as a person would on
 * the modules: every command is read from the runbook's code blocks, its placeholders filled in,
 * and run with `edgebox local exec` (the module's network, /etc, data dir and units; k3s-shell.ts).
 * The steps that are prose ("write config.yaml for ...") are done with `edgebox render`'s output,
 * as the runbook says. If a command in the runbook is wrong, this fails on it.
 */

const SPEC = 'examples/article-box.yaml';
const spec = (await loadSpec(SPEC)).box;
const [A, B, C] = initialServers(spec).map((m) => m.name) as [string, string, string];
const SPARE = spec.spec.modules.find((m) => m.roles.includes('server') && ![A, B, C].includes(m.name))!.name;
const RUNBOOK = await readFile(new URL('../../docs/runbooks/control-plane.md', import.meta.url), 'utf8');

/**
 * The commands of a runbook section, by step number (0: before the first numbered step): the
 * lines of its ```sh blocks, without comments. Pure text handling; the test runs them.
 */
function steps(heading: string): Map<number, string[]> {
  const start = RUNBOOK.indexOf(`\n${heading}`);
  if (start < 0) throw new Error(`no section '${heading}' in the runbook`);
  const end = RUNBOOK.indexOf('\n## ', start + heading.length + 2);
  const out = new Map<number, string[]>();
  let step = 0;
  let inBlock = false;
  for (const line of RUNBOOK.slice(start, end < 0 ? undefined : end).split('\n')) {
    const numbered = /^(\d+)\. /.exec(line);
    if (numbered && !inBlock) step = Number(numbered[1]);
    if (/^\s*```/.test(line)) {
      inBlock = !inBlock && /```sh\s*$/.test(line);
      continue;
    }
    const command = line.replace(/\s+#\s.*$/, '').trim();
    if (inBlock && command) out.set(step, [...(out.get(step) ?? []), command]);
  }
  return out;
}

/** The runbook's own way to read etcd (`T=...`, `etcdapi`), defined before every command. */
const ETCD_TOOLS = steps('## Before you start')
  .get(0)!
  .filter((l) => l.startsWith('T=') || l.startsWith('etcdapi()'));

describe('docs/runbooks/control-plane.md, followed on real K3s servers', () => {
  let box: Box;
  let state: BoxState;
  const address = (m: string) => state.k3s!.network.members[m]!.address;

  /** One runbook command on a module, placeholders filled in; returns its output, fails on a non-zero exit. */
  async function run(module: string, command: string, fill: Record<string, string> = {}, expectCode = 0): Promise<string> {
    const line = Object.entries(fill).reduce((l, [k, v]) => l.replaceAll(`<${k}>`, v), command);
    expect(line, 'every placeholder filled in').not.toMatch(/<[a-z]+>/);
    const r = await execOnModule(box.dir, module, ['sh', '-c', [...ETCD_TOOLS, line].join('\n')], 'pipe');
    expect(r.code, `\`${line}\` on ${module}: ${r.stderr}`).toBe(expectCode);
    return r.stdout;
  }
  /** A step's block pasted into one shell, as a person does: its variables hold from line to line. */
  const runStep = async (module: string, section: Map<number, string[]>, n: number, fill: Record<string, string> = {}) => {
    const commands = section.get(n);
    expect(commands, `step ${n} has commands`).toBeDefined();
    await run(module, ['set -e', ...commands!].join('\n'), fill);
  };
  const memberNames = async (module: string) =>
    ((JSON.parse(await run(module, 'etcdapi cluster/member/list')) as { members?: { name?: string; isLearner?: boolean }[] }).members ?? [])
      .filter((m) => !m.isLearner)
      .map((m) => (m.name ?? '').replace(/-[0-9a-f]{8}$/, ''))
      .sort();
  const healthyVoter = async (module: string) => {
    const s = JSON.parse(await run(module, 'etcdapi maintenance/status')) as { leader?: string; isLearner?: boolean };
    return !!s.leader && s.leader !== '0' && !s.isLearner;
  };
  /** What the runbook's prose steps say to write: the module's config from `edgebox render`, in that role. */
  const writeConfig = (module: string, role: 'server' | 'agent' | 'cluster-init', joinUrl?: string) =>
    writeFile(
      join(k3sPaths(box.dir, module).etcUpper, 'rancher', 'k3s', 'config.yaml'),
      renderK3sConfig(
        spec,
        spec.spec.modules.find((m) => m.name === module)!,
        { role, ...(joinUrl ? { joinUrl } : {}) },
      ),
      { mode: 0o600 },
    );

  beforeAll(async () => {
    box = await startBox(SPEC, { engine: 'k3s' });
    state = (await readState(box.dir))!;
  }, 400_000);
  afterAll(async () => {
    await box?.stop();
  }, 120_000);

  it('the module shell: its units, its files, its etcd, the box through kubectl', async () => {
    expect(await run(A, 'systemctl show --property=LoadState,ActiveState,UnitFileState k3s k3s-agent')).toMatch(
      /^LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\nLoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n$/,
    );
    await run(A, 'test -s /etc/rancher/k3s/edgebox-token && test -d /var/lib/rancher/k3s/server/db/etcd/member/wal');
    expect(await memberNames(A)).toEqual([A, B, C].sort());
    expect(await run(A, `kubectl get node ${SPARE} -o name`)).toBe(`node/${SPARE}\n`);
    // A command that fails exits non-zero here too.
    await run(A, 'test -e /var/lib/rancher/k3s/server/db/reset-flag', {}, 1);
  });

  it('section 1, promotion: the spare becomes a voter', async () => {
    const s1 = steps('## 1. Promotion');
    const fill = { api: `${address(A)}`, module: SPARE };
    await runStep(SPARE, s1, 1, fill);
    await runStep(SPARE, s1, 2, fill);
    // Step 3 is prose: the server config, joining through the API address.
    await writeConfig(SPARE, 'server', apiUrl(address(A)));
    for (const n of [4, 5, 6, 7]) await runStep(SPARE, s1, n, fill);
    // Step 8: wait until the member is a voter (K3s promotes it on its own check, every 15 s).
    await eventually(async () => expect(await healthyVoter(SPARE)).toBe(true), { timeoutMs: 120_000, intervalMs: 1000, message: `${SPARE} is a voter` });
    expect(await memberNames(A)).toEqual([A, B, C, SPARE].sort());
    expect(await run(A, 'ls /var/lib/rancher/k3s/server/db/snapshots')).toMatch(new RegExp(`^edgebox-before-promote-${SPARE}-`, 'm'));
  }, 240_000);

  it('section 2 then 3: the spare is removed through K3s, then demoted', async () => {
    const s2 = steps('## 2. Member removal');
    await eventually(async () => expect(await run(A, s2.get(1)![0]!, { module: SPARE })).toMatch(/true/), {
      timeoutMs: 30_000,
      message: `${SPARE}'s Node has the etcd role label`,
    });
    for (const n of [2, 3]) await runStep(A, s2, n, { module: SPARE });
    await eventually(async () => expect(await run(A, s2.get(4)![0]!, { module: SPARE })).toMatch(new RegExp(`^${SPARE}-`)), {
      timeoutMs: 90_000,
      intervalMs: 1000,
      message: 'K3s removed the member',
    });
    expect(await memberNames(A)).toEqual([A, B, C].sort());

    const s3 = steps('## 3. Demotion');
    // Step 1 is for a healthy voter only: removed, this one is not.
    expect(await healthyVoter(SPARE).catch(() => false)).toBe(false);
    for (const n of [2, 3]) await runStep(SPARE, s3, n);
    await writeConfig(SPARE, 'agent', apiUrl(address(A)));
    await runStep(SPARE, s3, 5);
    expect(await run(SPARE, 'systemctl is-active k3s-agent')).toBe('active\n');
    expect(await run(SPARE, 'systemctl is-active k3s', {}, 3)).toBe('inactive\n');
    await run(SPARE, 'test -d /var/lib/rancher/k3s/server/db/etcd', {}, 1);
  }, 240_000);

  it('section 5, quorum loss: the survivor is reset by hand, keeps every object, and a peer rejoins by section 1', async () => {
    const s5 = steps('## 5. Quorum loss');
    await run(A, 'kubectl create configmap before-loss --from-literal=a=1');
    await killModule(box.dir, B);
    await killModule(box.dir, C);
    await eventually(async () => expect(await healthyVoter(A).catch(() => false)).toBe(false), { timeoutMs: 30_000, message: 'A lost its quorum' });

    await run(A, s5.get(1)![0]!, {}, 1); // no reset-flag
    await runStep(A, s5, 2);
    await runStep(A, s5, 3);
    await writeConfig(A, 'cluster-init');
    await runStep(A, s5, 5);
    await runStep(A, s5, 6);
    await eventually(async () => expect(await healthyVoter(A)).toBe(true), { timeoutMs: 120_000, intervalMs: 1000, message: 'A serves alone' });
    expect(await memberNames(A)).toEqual([A]);
    // "the API answers": its API server comes up a few seconds after its etcd.
    await eventually(async () => expect(await run(A, 'kubectl get configmap before-loss -o jsonpath={.data.a}')).toBe('1'), {
      timeoutMs: 60_000,
      intervalMs: 1000,
      message: 'the object, through the reset server',
    });
    // The snapshot file the reset restored, and the data it restored over, both kept.
    await run(A, 'test -s "$(ls -d /var/lib/rancher/k3s/server/db/snapshots/edgebox-before-cluster-reset-* | head -n 1)"');
    await run(A, 'test -d "$(ls -d /var/lib/rancher/k3s/server/db/etcd-old-* | head -n 1)/member/wal"');

    // Step 7: the old peers rejoin by section 1 (their data discarded by its step 5).
    const s1 = steps('## 1. Promotion');
    const fill = { api: address(A), module: B };
    for (const n of [1, 2]) await runStep(B, s1, n, fill);
    await writeConfig(B, 'server', apiUrl(address(A)));
    for (const n of [4, 5, 6, 7]) await runStep(B, s1, n, fill);
    await eventually(async () => expect(await memberNames(A)).toEqual([A, B].sort()), {
      timeoutMs: 120_000,
      intervalMs: 1000,
      message: `${B} rejoined as a voter`,
    });
    await eventually(async () => expect(await run(B, 'kubectl get configmap before-loss -o jsonpath={.data.a}')).toBe('1'), {
      timeoutMs: 60_000,
      intervalMs: 1000,
      message: 'the object, from the rejoined peer',
    });
  }, 400_000);
});
