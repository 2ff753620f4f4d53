import type { Command } from 'commander';
import { findHardware } from '../../catalog/hardware.js';
import { loadKubeConfig } from '../../apply/kubeconfig.js';
import { discover } from '../../agent/discovery/discover.js';
import { hostFs } from '../../agent/discovery/host-fs.js';
import type { Discovery } from '../../agent/discovery/types.js';
import { publish, type PublishReport } from '../../agent/publish.js';
import { loadSpec } from '../../spec/load.js';
import { formatBytes } from '../../spec/quantity.js';
import { emit, outputOption, type OutputFormat } from '../output.js';
import { table } from '../table.js';

const ROOT_HELP = 'the module\'s root filesystem to read /proc, /sys, /dev and /etc under';

export function registerAgent(program: Command): void {
  const agent = program
    .command('agent')
    .description('what runs on each module: hardware discovery (later also heartbeats and fencing)');

  agent
    .command('discover')
    .description('read what this module is and can do: catalog hardware id, capabilities, resources')
    .option('--root <dir>', ROOT_HELP, '/')
    .addOption(outputOption())
    .action(async (opts: { root: string; output: OutputFormat }) => {
      const d = await discover(hostFs(opts.root));
      emit(d, opts.output, formatDiscovery);
    });

  agent
    .command('publish')
    .description('discover once and publish it: node labels, extended resources, findings in the EdgeBox status and Events')
    .requiredOption('--node <name>', 'the node of this module')
    .requiredOption('--spec <file>', 'box spec file (YAML) to compare with')
    .option('--root <dir>', ROOT_HELP, '/')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .addOption(outputOption())
    .action(async (opts: { node: string; spec: string; root: string; kubeconfig?: string; output: OutputFormat }) => {
      const { box } = await loadSpec(opts.spec);
      const kc = loadKubeConfig(opts.kubeconfig ? { path: opts.kubeconfig } : {});
      const discovery = await discover(hostFs(opts.root));
      const report = await publish({ kc, box, node: opts.node, discovery });
      emit({ discovery, publish: report }, opts.output, (r) => `${formatDiscovery(r.discovery)}\n${formatPublish(r.publish)}`);
    });
}

function formatDiscovery(d: Discovery): string {
  const hw = d.hardware ? `${d.hardware} (${findHardware(d.hardware)?.name ?? ''})` : 'none (see notes)';
  const a = d.resources.accelerator;
  const extended = Object.entries(d.resources.extended).map(([r, n]) => `${r}=${n}`).join(', ');
  const facts: [string, string][] = [
    ['hardware', hw],
    ['model', d.board.model ?? '-'],
    ['compatible', d.board.compatible.join(', ') || '-'],
    ['arch', d.board.arch ?? '-'],
    ...(d.board.l4t ? [['jetson linux', d.board.l4t] as [string, string]] : []),
    ['cpus', d.resources.cpus === null ? '-' : String(d.resources.cpus)],
    ['memory', d.resources.memoryBytes === null ? '-' : formatBytes(d.resources.memoryBytes)],
    ['accelerator', a ? `${a.name} (${a.kind}, ${a.resource}: ${a.count})` : '-'],
    ['resources', extended || '-'],
  ];
  const width = Math.max(...facts.map(([k]) => k.length)) + 2;
  const head = facts.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n');
  const caps = d.capabilities.length
    ? table(['CAPABILITY', 'EVIDENCE'], d.capabilities.map((c) => [c, (d.evidence[c] ?? []).join(', ')]))
    : 'no capabilities found\n';
  const notes = d.notes.length ? `\nnotes:\n${d.notes.map((n) => `  - ${n.message}\n`).join('')}` : '';
  return `${head}\n\n${caps}${notes}`;
}

function formatPublish(r: PublishReport): string {
  const changes = r.changes.length ? r.changes.map((c) => `  ${c}\n`).join('') : '  (node already up to date)\n';
  const findings = r.findings.length
    ? r.findings.map((f) => `  ${f.severity} ${f.code}: ${f.message}\n    hint: ${f.hint}\n`).join('')
    : '  none: the module is what the spec says\n';
  const events = r.events.length ? `events: ${r.events.join(', ')}\n` : '';
  return `node ${r.node} (module ${r.module}):\n${changes}findings:\n${findings}${events}`;
}
