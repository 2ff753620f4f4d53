import type { Command } from 'commander';
import { planBox } from '../../plan/plan-box.js';
import { renderPlanReport } from '../../plan/report.js';
import { loadSpec } from '../../spec/load.js';
import { EXIT } from '../exit-codes.js';
import { emit, outputOption, useColor, type OutputFormat } from '../output.js';
import { printDiagnostics } from '../print-diagnostics.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('what-if analysis: initial servers and placement, then every single and pair module failure')
    .argument('<spec>', 'box spec file (YAML)')
    .addOption(outputOption())
    .option('--all-scenarios', 'text report: list every scenario, not only the failing ones', false)
    .action(async (file: string, opts: { output: OutputFormat; allScenarios: boolean }) => {
      const { box, diagnostics } = await loadSpec(file);
      // Spec warnings go to stderr so that JSON/YAML on stdout stays machine-readable.
      printDiagnostics(diagnostics);
      const plan = planBox(box);
      emit(plan, opts.output, (p) => renderPlanReport(p, { color: useColor(), allScenarios: opts.allScenarios }));
      // Exit code, not process.exit: stdout must finish writing.
      if (plan.findings.some((f) => f.severity === 'error')) process.exitCode = EXIT.failure;
    });
}
