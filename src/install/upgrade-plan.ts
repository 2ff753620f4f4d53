import { AGENT_UNIT, nodeOfMember, SERVER_UNIT } from '../agent/role/k3s-plan.js';
import { majorityOf } from '../base/majority.js';
import type { MemberInfo } from '../contract/role-driver.js';
import type { BoxSpec } from '../spec/schema.js';
import type { ModuleFacts } from './facts.js';
import { agentFiles, agentMarker, AGENT_ARTIFACT_DIR, K3S_BINARY_PATH, type InstallInputs, type Phase, type Step } from './plan.js';

/**
 * `edgebox upgrade`: a box that install made, to another K3s binary or another edgebox. Pure.
 *
 * Who may act, and what stops a step that would harm the box:
 * - only on a box whose every module install finished (its agent enabled), whose members are all
 *   voters (none still joining) and whose every voter runs: a server restarted while another
 *   voter is down can take the cluster below its quorum. Refused with the module that is down.
 * - a snapshot before anything changes, on a running voter (never pruned).
 * - servers (the modules that serve now: the guardian may have moved the role since install) one
 *   at a time: drained, the binary replaced, K3s restarted, then gated on its member being a
 *   voter with a leader and its API server ready again before the next one goes; uncordoned.
 * - then the agent-only modules, one at a time, the same way without the gate.
 * - then each module's edgebox agent: its new runtime beside the old one, its files, a restart.
 */

export interface UpgradeRefusal {
  module: string;
  code: string;
  message: string;
  hint: string;
}

export interface UpgradePlan {
  phases: Phase[];
  refusals: UpgradeRefusal[];
}

const k3sUnitOf = (f: ModuleFacts): string | undefined => (f.units[SERVER_UNIT]?.active ? SERVER_UNIT : f.units[AGENT_UNIT]?.active ? AGENT_UNIT : undefined);

export function planUpgrade(
  box: BoxSpec,
  facts: ReadonlyMap<string, ModuleFacts>,
  archOf: ReadonlyMap<string, 'arm64' | 'amd64'>,
  inputs: InstallInputs,
  members: readonly MemberInfo[],
): UpgradePlan {
  const refusals: UpgradeRefusal[] = [];
  for (const m of box.spec.modules) {
    if (!facts.get(m.name)?.units['edgebox-agent']?.enabled)
      refusals.push({
        module: m.name,
        code: 'install.not-installed',
        message: `${m.name} has no edgebox agent enabled: the box is not installed, or an install did not finish`,
        hint: 'run `edgebox install` first (it resumes where it stopped)',
      });
  }
  for (const l of members.filter((x) => x.learner))
    refusals.push({
      module: nodeOfMember(l.name),
      code: 'install.learner',
      message: `etcd member ${l.name} is a learner: a server is still joining`,
      hint: 'wait until it is a voter (`edgebox status`), then upgrade',
    });
  const voters = members.filter((x) => !x.learner);
  const down = voters.filter((v) => !facts.get(nodeOfMember(v.name))?.units[SERVER_UNIT]?.active);
  if (voters.length - down.length - 1 < majorityOf(voters.length))
    for (const v of down)
      refusals.push({
        module: nodeOfMember(v.name),
        code: 'install.voter-down',
        message: `voter ${nodeOfMember(v.name)} is down: restarting another server would leave ${voters.length - down.length - 1} of ${voters.length} voters running, below the quorum of ${majorityOf(voters.length)}`,
        hint: `bring ${nodeOfMember(v.name)} back first (or let the guardian replace it), then upgrade`,
      });

  const servers: Step[] = [];
  const agents: Step[] = [];
  const edgebox: Step[] = [];
  for (const m of box.spec.modules) {
    const f = facts.get(m.name);
    const arch = archOf.get(m.name);
    if (!f || !arch) continue;
    const binary = inputs.k3s[arch];
    const unit = k3sUnitOf(f);
    if (binary && f.files[K3S_BINARY_PATH] !== binary.sha256) {
      const write: Step = {
        kind: 'write',
        module: m.name,
        file: { path: K3S_BINARY_PATH, mode: 0o755, sha256: binary.sha256, source: { kind: 'local', path: binary.path } },
        why: 'changed',
      };
      if (!unit)
        agents.push(write); // stopped: its agent starts the new binary when it decides to
      else
        (unit === SERVER_UNIT ? servers : agents).push(
          { kind: 'drain', module: m.name },
          write,
          { kind: 'start', module: m.name, unit, restart: true, why: 'a new binary' },
          ...(unit === SERVER_UNIT
            ? ([
                { kind: 'wait-voter', module: m.name },
                { kind: 'wait-api', module: m.name },
              ] satisfies Step[])
            : []),
          ...(binary.version ? [{ kind: 'wait-node', module: m.name, version: binary.version, required: unit !== SERVER_UNIT } satisfies Step] : []),
          { kind: 'uncordon', module: m.name },
        );
    }
    const artifact = inputs.agent[arch];
    if (!artifact) continue;
    const archive = `${AGENT_ARTIFACT_DIR}/edgebox-agent-${inputs.edgeboxVersion}-linux-${arch}.tar.gz`;
    const runtime: Step[] =
      f.files[agentMarker(inputs.edgeboxVersion)] === inputs.sha256(`${artifact.sha256}\n`)
        ? []
        : [
            {
              kind: 'write',
              module: m.name,
              file: { path: archive, mode: 0o644, sha256: artifact.sha256, source: { kind: 'local', path: artifact.path } },
              why: 'changed',
            },
            { kind: 'unpack', module: m.name, archive, version: inputs.edgeboxVersion, sha256: artifact.sha256 },
          ];
    const writes = agentFiles(box, m, inputs)
      .filter((x) => f.files[x.path] !== x.sha256)
      .map((file): Step => ({ kind: 'write', module: m.name, file, why: 'changed' }));
    if (runtime.length + writes.length > 0)
      edgebox.push(...runtime, ...writes, { kind: 'start', module: m.name, unit: 'edgebox-agent', restart: true, why: 'a new version' });
  }
  const first = voters.map((v) => nodeOfMember(v.name)).find((n) => facts.get(n)?.units[SERVER_UNIT]?.active);
  const changes = servers.length + agents.length + edgebox.length > 0;
  return {
    phases: [
      { name: 'snapshot', parallel: false, steps: changes && first ? [{ kind: 'snapshot', module: first }] : [] },
      { name: 'servers, one at a time', parallel: false, steps: servers },
      { name: 'agents, one at a time', parallel: false, steps: agents },
      { name: 'edgebox agents, one at a time', parallel: false, steps: edgebox },
    ],
    refusals,
  };
}
