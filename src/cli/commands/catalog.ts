import type { Command } from 'commander';
import { CAPABILITIES } from '../../catalog/capabilities.js';
import { HARDWARE } from '../../catalog/hardware.js';
import { formatBytes } from '../../spec/quantity.js';
import { emit, outputOption, type OutputFormat } from '../output.js';
import { table } from '../../base/table.js';

export function registerCatalog(program: Command): void {
  program
    .command('catalog')
    .description('list the hardware ids and the capability vocabulary a box spec may use')
    .addOption(outputOption())
    .action((opts: { output: OutputFormat }) => {
      const data = { hardware: HARDWARE, capabilities: CAPABILITIES };
      emit(data, opts.output, () => {
        const hw = table(
          ['ID', 'ARCH', 'CPUS', 'MEMORY', 'ACCELERATOR', 'CAPABILITIES'],
          HARDWARE.map((h) => [
            h.id,
            h.arch,
            String(h.cpuCores),
            formatBytes(h.memoryBytes),
            h.accelerator ? `${h.accelerator.name}${h.accelerator.tops ? ` (${h.accelerator.tops} TOPS)` : ''}` : '-',
            h.capabilities.join(','),
          ]),
        );
        const caps = table(['CAPABILITY', 'MEANING'], Object.entries(CAPABILITIES));
        return `${hw}\n${caps}`;
      });
    });
}
