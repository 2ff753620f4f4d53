import type { Command } from 'commander';
import { writeOutput, type FileAction } from '../../render/output-dir.js';
import { renderBox } from '../../render/render-box.js';
import { renderChart } from '../../render/chart.js';
import { inputError } from '../../diagnostics/diagnostic.js';
import { loadSpec } from '../../spec/load.js';
import { emit, outputOption, type OutputFormat } from '../output.js';
import { printDiagnostics } from '../print-diagnostics.js';

interface RenderResult {
  box: string;
  out: string;
  written: number;
  unchanged: number;
  removed: number;
  files: FileAction[];
}

const VERB: Record<FileAction['action'], string> = { write: 'wrote', unchanged: 'unchanged', remove: 'removed' };

function text(r: RenderResult): string {
  const changes = r.files.filter((f) => f.action !== 'unchanged').map((f) => `  ${VERB[f.action].padEnd(8)} ${f.path}`);
  return [...changes, `${r.out}: box '${r.box}' rendered: ${r.written} file(s) written, ${r.unchanged} unchanged, ${r.removed} removed`, ''].join('\n');
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description("write each module's K3s config.yaml and the Kubernetes manifests of a box")
    .argument('<spec>', 'box spec file (YAML)')
    .option('--out <dir>', 'output directory; created if missing, stale rendered files removed')
    .option('--chart <dir>', "write a Helm chart of the box's edgebox objects (controller, RBAC, agent identity, monitoring) instead")
    .addOption(outputOption())
    .addHelpText(
      'after',
      '\nExamples:\n  edgebox render examples/article-box.yaml --out rendered/\n  edgebox render examples/article-box.yaml --chart charts/edgebox && helm template edgebox charts/edgebox',
    )
    .action(async (file: string, opts: { out?: string; chart?: string; output: OutputFormat }) => {
      const out = opts.chart ?? opts.out;
      if (out === undefined || (opts.chart !== undefined && opts.out !== undefined))
        throw inputError('render.no-output', 'render needs one of --out <dir> and --chart <dir>', 'pass --out for the box files, or --chart for a Helm chart');
      // loadSpec throws on an invalid spec, before anything is written.
      const { box, diagnostics } = await loadSpec(file);
      printDiagnostics(diagnostics);
      const files = await writeOutput(out, opts.chart !== undefined ? renderChart(box) : renderBox(box));
      const count = (action: FileAction['action']) => files.filter((f) => f.action === action).length;
      const result: RenderResult = {
        box: box.metadata.name,
        out,
        written: count('write'),
        unchanged: count('unchanged'),
        removed: count('remove'),
        files,
      };
      emit(result, opts.output, text);
    });
}
