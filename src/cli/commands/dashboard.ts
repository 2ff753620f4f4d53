import type { Command } from 'commander';
import { inputError } from '../../diagnostics/diagnostic.js';
import { startDashboard } from '../../dashboard/server.js';
import { resolveSources } from '../../dashboard/sources.js';
import { printDiagnostics } from '../print-diagnostics.js';
import { contextOption } from '../output.js';
import { untilSignal } from '../until-signal.js';

/** A fixed default, so a bookmark keeps working; `--port 0` takes any free port. */
const DEFAULT_PORT = 8470;

interface DashboardCliOptions {
  kubeconfig?: string;
  context?: string;
  spec?: string;
  localDir?: string;
  host: string;
  port: string;
}

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('serve the box dashboard on localhost: modules, roles, workloads, failovers live, and what-if')
    .option('--kubeconfig <path>', "cluster to watch (default: the local box's, else KUBECONFIG, else ~/.kube/config; none: spec only)")
    .addOption(contextOption())
    .option('--spec <file>', "box spec (default: the local box's, else the cluster's EdgeBox object)")
    .option('--local-dir <dir>', 'a local box directory (`edgebox local up`): adds kill and revive')
    .option('--host <address>', 'loopback address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', String(DEFAULT_PORT))
    .action(async (opts: DashboardCliOptions) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535)
        throw inputError('dashboard.bad-port', `--port ${opts.port} is not a port`, 'give 1-65535, or 0 for any free port');
      const { spec, kc, local } = await resolveSources(opts);
      printDiagnostics(spec.diagnostics);
      const dashboard = await startDashboard({ box: spec.box, ...(kc ? { kc } : {}), ...(local ? { local } : {}), host: opts.host, port });
      process.stdout.write(
        [
          `edgebox dashboard of box ${spec.box.metadata.name}: ${dashboard.url} (read-only)`,
          `token for actions (kill, revive): ${dashboard.token}`,
          `  open ${dashboard.url}#token=${dashboard.token} to use them from this browser`,
          '',
        ].join('\n'),
      );
      await untilSignal(() => dashboard.close());
    });
}
