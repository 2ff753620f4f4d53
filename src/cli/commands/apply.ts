import type { Command } from 'commander';
import pc from 'picocolors';
import { applyBox } from '../../apply/apply.js';
import { Cluster } from '../../apply/cluster.js';
import { kubeconfigFlags, loadKubeConfig } from '../../kube/kubeconfig.js';
import { formatReport, reportView } from '../../apply/report.js';
import { loadSpec } from '../../spec/load.js';
import { contextOption, emit, outputOption, useColor, type OutputFormat } from '../output.js';
import { formatDiagnostic } from '../print-diagnostics.js';

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('server-side apply a box to its cluster: workloads, node labels and taints; prunes what the spec dropped')
    .argument('<spec>', 'box spec file (YAML)')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .addOption(contextOption())
    .option('--dry-run', 'print the diff of every object and change nothing', false)
    .addOption(outputOption())
    .action(async (file: string, opts: { kubeconfig?: string; context?: string; dryRun: boolean; output: OutputFormat }) => {
      const { box, diagnostics } = await loadSpec(file);
      const cluster = new Cluster(loadKubeConfig(kubeconfigFlags(opts)));
      const report = await applyBox({ box, cluster, dryRun: opts.dryRun });
      const view = reportView({ ...report, diagnostics: [...diagnostics, ...report.diagnostics] });
      const color = useColor();
      emit(view, opts.output, (v) => {
        const notes = v.diagnostics.map((d) => `${formatDiagnostic(d, color)}\n`).join('');
        return formatReport(v, color ? paintDiff : undefined) + notes;
      });
    });
}

function paintDiff(line: string): string {
  if (line.startsWith('+')) return pc.green(line);
  if (line.startsWith('-')) return pc.red(line);
  if (line.startsWith('@@')) return pc.cyan(line);
  return line;
}
