import type { Command } from 'commander';
import { EdgeboxError } from '../../diagnostics/diagnostic.js';
import { contextOption, emit, outputOption, type OutputFormat } from '../output.js';

/** Errors that mean the API cannot answer (down, or without an etcd quorum), not that the request was wrong. */
const API_UNAVAILABLE = new Set(['kube.cluster-unreachable', 'kube.api-error']);

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("the box now: modules (health, role), the control plane (voters, etcd leader, pending change, history) and the peripherals' owners")
    .option('--kubeconfig <path>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .addOption(contextOption())
    .option('--dir <dir>', 'a local box directory: its kubeconfig, and its agents when the API is unavailable')
    .option('--box <name>', 'the EdgeBox to show when the cluster has several')
    .addOption(outputOption())
    .action(async (opts: { kubeconfig?: string; context?: string; dir?: string; box?: string; output: OutputFormat }) => {
      const [{ resolveTarget }, { readEdgeBox }, { fromAgents, fromEdgeBoxStatus, formatStatus }] = await Promise.all([
        import('../target.js'),
        import('../../status/read-api.js'),
        import('../../status/box-status.js'),
      ]);
      const { kc, box, state } = await resolveTarget(opts, 'status');
      let report;
      try {
        const read = await readEdgeBox(kc, box);
        report = fromEdgeBoxStatus(read.box.metadata.name, read.status);
      } catch (e) {
        // Without a quorum the API server cannot answer; the agents still can (local box only:
        // its state file says where they listen).
        const unavailable = e instanceof EdgeboxError && e.diagnostics.some((d) => API_UNAVAILABLE.has(d.code));
        if (!state || !unavailable) throw e;
        const { probeAgents } = await import('../../status/read-agents.js');
        const agents = state.agents ?? [];
        const why = `the API is unavailable (${(e as EdgeboxError).diagnostics[0]?.message ?? 'no answer'}): read from the agents`;
        report = fromAgents(
          state.box,
          agents.map((a) => a.module),
          await probeAgents(agents),
          why,
        );
      }
      emit(report, opts.output, formatStatus);
    });
}
