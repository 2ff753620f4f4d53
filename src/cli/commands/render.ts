import type { Command } from 'commander';
import { writeOutput, type FileAction } from '../../render/output-dir.js';
import { renderBox } from '../../render/render-box.js';
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
    .requiredOption('--out <dir>', 'output directory; created if missing, stale rendered files removed')
    .addOption(outputOption())
    .action(async (file: string, opts: { out: string; output: OutputFormat }) => {
      // loadSpec throws on an invalid spec, before anything is written.
      const { box, diagnostics } = await loadSpec(file);
      printDiagnostics(diagnostics);
      const files = await writeOutput(opts.out, renderBox(box));
      const count = (action: FileAction['action']) => files.filter((f) => f.action === action).length;
      const result: RenderResult = {
        box: box.metadata.name,
        out: opts.out,
        written: count('write'),
        unchanged: count('unchanged'),
        removed: count('remove'),
        files,
      };
      emit(result, opts.output, text);
    });
}
