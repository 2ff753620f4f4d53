import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { install, upgrade, type InstallReport } from '../../install/install.js';
import { K3S_RELEASE_URL } from '../../install/k3s-release.js';
import { readBmcInputs, type BmcInputs } from '../../install/bmc.js';
import { uninstall, type UninstallReport } from '../../install/uninstall.js';
import { packageRoot } from '../../local/toolchain.js';
import { emit, outputOption, useColor, type OutputFormat } from '../output.js';
import { formatDiagnostic } from '../print-diagnostics.js';

interface Flags {
  sshUser: string;
  sshKey?: string;
  sshPort?: string;
  k3sBinary: string[];
  k3sVersion?: string | true;
  k3sReleaseUrl: string;
  airgapImages?: string;
  bmcCa?: string;
  ignoreK3sVersion: boolean;
  dryRun: boolean;
  output: OutputFormat;
}

/**
 * Resolved when a command runs, never at registration: every command is registered for `--help`,
 * and os.homedir() throws where neither HOME nor a passwd entry says it (a module's service).
 */
const defaultKey = (): string => join(homedir(), '.ssh', 'id_ed25519');

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function seconds(ms: number | undefined): string {
  return ms === undefined ? '' : ` (${(ms / 1000).toFixed(1)} s)`;
}

export function formatInstall(r: InstallReport, color: boolean): string {
  const lines: string[] = [];
  if (r.unchanged) lines.push(`box ${r.box}: every module is as the spec and the inputs say; nothing to change${seconds(r.ms)}`);
  else {
    lines.push(r.dryRun ? `box ${r.box}: these steps would run (--dry-run: nothing changed)` : `box ${r.box}: done${seconds(r.ms)}`);
    for (const p of r.phases) {
      if (p.steps.length === 0) continue;
      lines.push('', `${p.name}${seconds(p.ms)}:`);
      for (const s of p.steps) lines.push(`  ${s.module.padEnd(12)} ${s.step}${seconds(s.ms)}`);
    }
  }
  if (r.notes.length) lines.push('', 'notes:', ...r.notes.map((n) => `  ${n.module}: ${n.message}`));
  for (const d of r.diagnostics) lines.push(formatDiagnostic(d, color));
  if (!r.dryRun && !r.unchanged) lines.push('', `next: edgebox apply ${'<spec>'} for the workloads; edgebox status for the box's health`);
  return `${lines.join('\n')}\n`;
}

async function bmcOption(caFile: string | undefined): Promise<{ bmc?: BmcInputs }> {
  const bmc = await readBmcInputs(process.env, caFile);
  return bmc ? { bmc } : {};
}

function sshCommand(program: Command, name: 'install' | 'upgrade', description: string, run: typeof install): void {
  program
    .command(name)
    .description(description)
    .argument('<spec>', 'box spec file (YAML)')
    .option('--ssh-user <user>', `login on every module: root, or a user who may use sudo without a password`, 'root')
    .option('--ssh-key <path>', 'private key every module accepts (default: ~/.ssh/id_ed25519)')
    .option('--ssh-port <port>', 'SSH port of every module', undefined)
    .option('--k3s-binary <path>', 'K3s binary to install (the release file k3s or k3s-arm64); once per architecture the box has', collect, [])
    .option(
      '--k3s-version [version]',
      "download K3s's official release binaries instead (alone: spec.k3s.version), checked against the release's sha256sum files and kept in ~/.cache/edgebox",
    )
    .option('--k3s-release-url <url>', "a mirror of K3s's releases, laid out as <url>/<version>/<file>", K3S_RELEASE_URL)
    .option(
      '--airgap-images <dir>',
      "image archives (.tar, .tar.gz, .tar.zst) to copy into every module's K3s images directory before K3s starts: nothing is pulled then",
    )
    .option(
      '--bmc-ca <file>',
      "the Turing Pi BMC's certificate (PEM), for its self-signed HTTPS; the BMC login comes from EDGEBOX_BMC_USERNAME and EDGEBOX_BMC_PASSWORD in this shell, never a flag",
    )
    .option('--ignore-k3s-version', 'install K3s binaries whose version is not spec.k3s.version (a build of your own)', false)
    .option('--dry-run', `run preflight and print the steps ${name} would take; change nothing`, false)
    .addOption(outputOption())
    .action(async (file: string, flags: Flags) => {
      const report = await run({
        specFile: file,
        user: flags.sshUser,
        keyPath: flags.sshKey ?? defaultKey(),
        ...(flags.sshPort ? { sshPort: Number(flags.sshPort) } : {}),
        k3sBinaries: flags.k3sBinary,
        ...(flags.k3sVersion !== undefined ? { k3sVersion: flags.k3sVersion, k3sReleaseUrl: flags.k3sReleaseUrl } : {}),
        ...(flags.airgapImages ? { airgapImages: flags.airgapImages } : {}),
        ...(await bmcOption(flags.bmcCa)),
        ignoreK3sVersion: flags.ignoreK3sVersion,
        dryRun: flags.dryRun,
        root: packageRoot(),
        progress: (line) => process.stderr.write(`${line}\n`),
      });
      emit(report, flags.output, (r) => formatInstall(r, useColor()));
    });
}

export function registerInstall(program: Command): void {
  sshCommand(
    program,
    'install',
    'install a box on its modules over SSH: preflight on every module, K3s servers one at a time, agents, then the edgebox agent; idempotent and resumable',
    install,
  );
}

export function registerUpgrade(program: Command): void {
  sshCommand(
    program,
    'upgrade',
    'upgrade an installed box to another K3s binary or edgebox: a snapshot, then servers one at a time (drained, gated on a healthy voter), agents, edgebox agents; refuses a step that would break quorum',
    upgrade,
  );
}

export function formatUninstall(r: UninstallReport): string {
  if (r.unchanged) return `box ${r.box}: nothing of edgebox or K3s is installed on the modules asked; nothing to change\n`;
  const head = r.dryRun ? `box ${r.box}: uninstall would run these steps (--dry-run: nothing changed)` : `box ${r.box}: uninstalled${seconds(r.ms)}`;
  return `${[head, ...r.steps.map((s) => `  ${s.module.padEnd(12)} ${s.step}${seconds(s.ms)}`)].join('\n')}\n`;
}

export function registerUninstall(program: Command): void {
  program
    .command('uninstall')
    .description("take off the modules what edgebox install put there; keeps K3s's etcd snapshots and the peripheral grant history unless asked")
    .argument('<spec>', 'box spec file (YAML)')
    .option('--module <name>', 'only this module (repeatable); a running K3s server is refused: drain it first', collect, [])
    .option('--ssh-user <user>', 'login on every module: root, or a user who may use sudo without a password', 'root')
    .option('--ssh-key <path>', 'private key every module accepts (default: ~/.ssh/id_ed25519)')
    .option('--ssh-port <port>', 'SSH port of every module', undefined)
    .option('--delete-snapshots', "also delete K3s's etcd snapshots (server/db/snapshots)", false)
    .option('--delete-history', 'also delete the peripheral grant history (/var/lib/edgebox)', false)
    .option('--dry-run', 'print the steps; change nothing', false)
    .addOption(outputOption())
    .action(
      async (
        file: string,
        flags: {
          module: string[];
          sshUser: string;
          sshKey?: string;
          sshPort?: string;
          deleteSnapshots: boolean;
          deleteHistory: boolean;
          dryRun: boolean;
          output: OutputFormat;
        },
      ) => {
        const report = await uninstall({
          specFile: file,
          ...(flags.module.length ? { modules: flags.module } : {}),
          user: flags.sshUser,
          keyPath: flags.sshKey ?? defaultKey(),
          ...(flags.sshPort ? { sshPort: Number(flags.sshPort) } : {}),
          deleteSnapshots: flags.deleteSnapshots,
          deleteHistory: flags.deleteHistory,
          dryRun: flags.dryRun,
          progress: (line) => process.stderr.write(`${line}\n`),
        });
        emit(report, flags.output, formatUninstall);
      },
    );
}
