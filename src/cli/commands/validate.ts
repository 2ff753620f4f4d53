import type { Command } from 'commander';
import { loadSpec } from '../../spec/load.js';
import { emit, outputOption, type OutputFormat } from '../output.js';
import { formatDiagnostic } from '../print-diagnostics.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a box spec: schema, names, references, server count, addresses')
    .argument('<spec>', 'box spec file (YAML)')
    .addOption(outputOption())
    .action(async (file: string, opts: { output: OutputFormat }) => {
      const { box, diagnostics } = await loadSpec(file);
      const result = { valid: true, box: box.metadata.name, file, diagnostics };
      emit(result, opts.output, (r) =>
        [
          ...r.diagnostics.map((d) => formatDiagnostic(d)),
          `${r.file}: box '${r.box}' is valid (${box.spec.modules.length} modules, ${box.spec.workloads.length} workloads)`,
          '',
        ].join('\n'),
      );
    });
}
