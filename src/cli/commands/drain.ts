import type { Command } from 'commander';
import { EdgeboxError, failure, inputError } from '../../diagnostics/diagnostic.js';
import { contextOption, emit, outputOption, type OutputFormat } from '../output.js';

interface DrainOptions {
  kubeconfig?: string;
  context?: string;
  dir?: string;
  box?: string;
  dryRun?: boolean;
  undo?: boolean;
  timeout: string;
  output: OutputFormat;
}

export function registerDrain(program: Command): void {
  program
    .command('drain')
    .description(
      "before maintenance: move <module>'s server role to another module (replacement first, then demotion) and cordon its node; refuses (exit 1) what would break the control plane's quorum",
    )
    .argument('<module>', 'the module to take out')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .addOption(contextOption())
    .option('--dir <dir>', 'a local box directory (uses its kubeconfig)')
    .option('--box <name>', 'the EdgeBox, when the cluster has several')
    .option('--dry-run', 'only say what would be done, or why it is refused')
    .option('--undo', 'end the maintenance: uncordon the node and let the module be chosen as a server again')
    .option('--timeout <seconds>', 'how long to wait for the role to move; 0: ask and do not wait', '180')
    .addOption(outputOption())
    .action(async (module: string, opts: DrainOptions) => {
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout < 0)
        throw inputError('drain.bad-timeout', `--timeout '${opts.timeout}' is not a number of seconds`, 'pass e.g. --timeout 180');
      const [{ resolveTarget }, { readEdgeBox }, { observeBox }, { planDrain }, { requestDrain, undoDrain, recordRefusal, drainDone }] = await Promise.all([
        import('../target.js'),
        import('../../status/read-api.js'),
        import('../../controller/observe.js'),
        import('../../controller/guardian/drain-plan.js'),
        import('../../controller/guardian/drain-request.js'),
      ]);
      const target = await resolveTarget(opts, 'drain');
      const { box } = await readEdgeBox(target.kc, target.box);
      const observe = () => observeBox(target.kc, box, Date.now());

      if (opts.undo) {
        const result = await undoDrain(target.kc, await observe(), module, Boolean(opts.dryRun));
        emit(result, opts.output, (r) => `${r.module}: ${r.dryRun ? 'would be ' : ''}uncordoned; it may be chosen as a server again\n`);
        return;
      }

      const plan = planDrain(await observe(), module);
      if (!plan.ok) {
        if (plan.code === 'drain.unknown-module') throw inputError(plan.code, plan.reason, plan.hint);
        if (!opts.dryRun) await recordRefusal(target.kc, await observe(), module, plan.reason);
        throw failure(plan.code, `drain of ${module} refused: ${plan.reason}`, plan.hint);
      }
      if (opts.dryRun) {
        emit({ ...plan, dryRun: true }, opts.output, (p) => `drain of ${p.module} (dry run) would:\n${p.steps.map((s, i) => `  ${i + 1}. ${s}\n`).join('')}`);
        return;
      }
      const started = Date.now();
      await requestDrain(target.kc, await observe(), module);
      let done = !plan.server;
      const deadline = started + timeout * 1000;
      let last: Awaited<ReturnType<typeof drainDone>> | undefined;
      while (!done && timeout > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000));
        // The drained module's API server stops during the move: a request caught on it fails,
        // and the next one goes to another (the API address fails over).
        const o = await observe().catch((e: unknown) => {
          if (e instanceof EdgeboxError && e.diagnostics.some((d) => d.code === 'kube.cluster-unreachable' || d.code === 'kube.api-error')) return undefined;
          throw e;
        });
        if (!o) continue;
        last = drainDone(o, module);
        done = last.done;
      }
      const result = {
        module,
        server: plan.server,
        ...(plan.replacement ? { replacement: plan.replacement } : {}),
        done,
        waitedSeconds: Math.round((Date.now() - started) / 100) / 10,
        steps: plan.steps,
        ...(last ? { voters: last.voters } : {}),
      };
      if (!done && timeout > 0) {
        throw failure(
          'drain.timeout',
          `the server role of ${module} has not moved within ${timeout} s${last?.message ? `: ${last.message}` : ''}`,
          'see `edgebox status` (pending change, message); the guardian goes on, run drain again to wait more',
        );
      }
      emit(result, opts.output, (r) =>
        r.done
          ? `${r.module}: drained${r.server ? ` in ${r.waitedSeconds} s; ${r.replacement ? `${r.replacement} took its server role` : 'its member was removed'}` : ' (it was no server)'}; node cordoned\n`
          : `${r.module}: drain asked for; the guardian moves its server role (see \`edgebox status\`)\n`,
      );
    });
}
