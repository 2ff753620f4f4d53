import type { Command } from 'commander';
import { inputError } from '../../diagnostics/diagnostic.js';
import { checkHistory, type CheckResult, type GrantSpan } from '../../peripherals/check.js';
import type { LocatedRecord } from '../../peripherals/history.js';
import { historyFilesIn, readHistory } from '../../peripherals/read-history.js';
import { EXIT } from '../exit-codes.js';
import { contextOption, emit, outputOption, type OutputFormat } from '../output.js';
import { table } from '../../base/table.js';

export function registerPeripheral(program: Command): void {
  const cmd = program.command('peripheral').description('exclusive peripherals: move ownership, print and check the grant history');

  cmd
    .command('move')
    .description('planned handover: the owner stops granting first, then <module> owns it with the next fencing token')
    .argument('<name>', 'the peripheral')
    .argument('<module>', 'the module that should own it (one of its attachedTo)')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: KUBECONFIG, else ~/.kube/config)')
    .addOption(contextOption())
    .option('--timeout <seconds>', 'how long to wait for the move to be done; 0: do not wait', '30')
    .addOption(outputOption())
    .action(async (name: string, module: string, opts: { kubeconfig?: string; context?: string; timeout: string; output: OutputFormat }) => {
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout < 0)
        throw inputError('peripheral.bad-timeout', `--timeout '${opts.timeout}' is not a number of seconds`, 'pass e.g. --timeout 30');
      const [{ loadKubeConfig, kubeconfigFlags }, { requestMove, readPeripheralLease }] = await Promise.all([
        import('../../kube/kubeconfig.js'),
        import('../../peripherals/move.js'),
      ]);
      const kc = loadKubeConfig(kubeconfigFlags(opts));
      const before = await requestMove(kc, name, module);
      const deadline = Date.now() + timeout * 1000;
      let lease = before;
      while (lease.holder !== module && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        lease = (await readPeripheralLease(kc, name)).lease;
      }
      const done = lease.holder === module;
      const result = { peripheral: name, from: before.holder, to: module, done, owner: lease.holder, token: lease.token };
      emit(result, opts.output, (r) =>
        r.done
          ? `${r.peripheral}: owned by ${r.owner} with token ${r.token} (was ${r.from ?? 'nobody'})\n`
          : `${r.peripheral}: move to ${r.to} asked for; still owned by ${r.owner ?? 'nobody'} (token ${r.token})\n`,
      );
      if (!done && timeout > 0) process.exitCode = EXIT.failure;
    });

  cmd
    .command('history')
    .description('every grant and release of a peripheral, with fencing tokens and times')
    .argument('<name>', 'the peripheral')
    .option('--dir <dir>', "the agents' history files: a local box dir (its peripherals/*.jsonl) or a directory of *.jsonl files")
    .option('--kubeconfig <path>', "the cluster's record instead: the Events of the peripheral's ownership Lease")
    .addOption(contextOption())
    .addOption(outputOption())
    .action(async (name: string, opts: { dir?: string; kubeconfig?: string; context?: string; output: OutputFormat }) => {
      if ((opts.dir === undefined) === (opts.kubeconfig === undefined))
        throw inputError(
          'peripheral.history-source',
          'pass exactly one of --dir and --kubeconfig',
          "--dir <box dir> reads the agents' logs; --kubeconfig reads the ownership Events",
        );
      if (opts.dir !== undefined) {
        const records = (await readHistory(await historyFilesIn(opts.dir))).filter((r) => r.peripheral === name);
        const plain = records.map(({ file: _f, line: _l, atMs: _a, untilMs: _u, ...r }) => r);
        emit(plain, opts.output, () => formatRecords(records));
        return;
      }
      const [{ loadKubeConfig, kubeconfigFlags }, { ownershipEvents }] = await Promise.all([
        import('../../kube/kubeconfig.js'),
        import('../../peripherals/events.js'),
      ]);
      const events = await ownershipEvents(loadKubeConfig(kubeconfigFlags(opts)), name);
      emit(events, opts.output, (ev) =>
        ev.length
          ? table(
              ['TIME', 'REASON', 'MESSAGE'],
              ev.map((e) => [e.at, e.reason, e.message]),
            )
          : `no ownership Events of ${name}\n`,
      );
    });

  cmd
    .command('check')
    .description('check grant histories: exit 1 when two modules held a grant of one peripheral at once or a token went backwards, 2 on unreadable input')
    .argument('<files...>', 'history files (JSON lines, as the agents write them)')
    .addOption(outputOption())
    .action(async (files: string[], opts: { output: OutputFormat }) => {
      const result = checkHistory(await readHistory(files));
      emit(result, opts.output, formatCheck);
      if (!result.ok) process.exitCode = EXIT.failure;
    });
}

function formatRecords(records: readonly LocatedRecord[]): string {
  if (!records.length) return 'no records\n';
  return table(
    ['AT', 'KIND', 'MODULE', 'TOKEN', 'UNTIL / REASON'],
    records.map((r) => [r.at, r.kind, r.module, String(r.token), r.until ?? r.reason ?? '']),
  );
}

const span = (s: GrantSpan) => `${s.module} token ${s.token} ${new Date(s.start).toISOString()}..${new Date(s.end).toISOString()} (${s.file}:${s.line})`;

function formatCheck(r: CheckResult): string {
  const lines = r.peripherals.map(
    (p) => `${p.peripheral}: ${p.grants} grants, ${p.releases} releases, holders ${p.holders.join(' -> ') || '-'}, tokens ${p.tokens.join(', ') || '-'}\n`,
  );
  const violations = r.violations.map((v) =>
    v.kind === 'overlap'
      ? `OVERLAP ${v.peripheral}: ${span(v.first)} and ${span(v.second)}\n`
      : `TOKEN REGRESSION ${v.peripheral}: ${span(v.second)} starts after ${span(v.first)}\n`,
  );
  return `${lines.join('')}${r.ok ? `ok: ${r.records} records, no overlapping grants, tokens only grow\n` : violations.join('')}`;
}
