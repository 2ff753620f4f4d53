import { Option, type Command } from 'commander';
import { inputError } from '../../diagnostics/diagnostic.js';
import { GITOPS_TOOLS, renderGitops, type GitopsTool } from '../../render/gitops.js';
import { isGitopsPath, writeOutput, type FileAction } from '../../render/output-dir.js';
import { renderBox } from '../../render/render-box.js';
import { renderChart } from '../../render/chart.js';
import { loadSpec } from '../../spec/load.js';
import { emit, outputOption, type OutputFormat } from '../output.js';
import { printDiagnostics } from '../print-diagnostics.js';

interface RenderResult {
  /** The first (without --gitops, the only) box. */
  box: string;
  boxes: string[];
  out: string;
  written: number;
  unchanged: number;
  removed: number;
  files: FileAction[];
}

interface RenderOptions {
  out?: string;
  chart?: string;
  output: OutputFormat;
  gitops?: GitopsTool;
  repoUrl?: string;
  revision?: string;
}

const VERB: Record<FileAction['action'], string> = { write: 'wrote', unchanged: 'unchanged', remove: 'removed' };

function text(r: RenderResult): string {
  const changes = r.files.filter((f) => f.action !== 'unchanged').map((f) => `  ${VERB[f.action].padEnd(8)} ${f.path}`);
  const what = r.boxes.length === 1 ? `box '${r.boxes[0]!}'` : `boxes ${r.boxes.map((b) => `'${b}'`).join(', ')}`;
  return [...changes, `${r.out}: ${what} rendered: ${r.written} file(s) written, ${r.unchanged} unchanged, ${r.removed} removed`, ''].join('\n');
}

export function registerRender(program: Command): void {
  program
    .command('render')
    .description(
      "write each module's K3s config.yaml and the Kubernetes manifests of a box, a Helm chart of its edgebox objects, or a GitOps repository layout for many boxes",
    )
    .argument('<spec...>', 'box spec file(s) (YAML); several only with --gitops')
    .option('--out <dir>', 'output directory; created if missing, stale rendered files removed')
    .option('--chart <dir>', "write a Helm chart of the box's edgebox objects (controller, RBAC, agent identities, monitoring) instead")
    .addOption(
      new Option('--gitops <tool>', 'write a repository layout for Fleet (one bundle per box) or Argo CD (one ApplicationSet per box)').choices(GITOPS_TOOLS),
    )
    .option('--repo-url <url>', 'with --gitops argocd: the Git repository the layout is pushed to')
    .option('--revision <ref>', 'with --gitops argocd: the branch, tag or commit to follow (default: HEAD)')
    .addOption(outputOption())
    .action(async (specs: string[], opts: RenderOptions) => {
      const out = opts.chart ?? opts.out;
      if (out === undefined || (opts.chart !== undefined && opts.out !== undefined))
        throw inputError('render.no-output', 'render needs one of --out <dir> and --chart <dir>', 'pass --out for the box files, or --chart for a Helm chart');
      if (opts.chart !== undefined && opts.gitops)
        throw inputError('render.chart-and-gitops', '--chart and --gitops write different things', 'render the chart and the GitOps layout in two runs');
      if (!opts.gitops && specs.length > 1)
        throw inputError('render.one-spec', 'render writes one box at a time without --gitops', 'pass one spec, or --gitops fleet|argocd for several');
      // loadSpec throws on an invalid spec, before anything is written.
      const loaded = [];
      for (const file of specs) {
        const { box, diagnostics } = await loadSpec(file);
        printDiagnostics(diagnostics);
        loaded.push(box);
      }
      const files = opts.gitops
        ? await writeOutput(
            out,
            renderGitops(loaded, {
              tool: opts.gitops,
              ...(opts.repoUrl ? { repoUrl: opts.repoUrl } : {}),
              ...(opts.revision ? { revision: opts.revision } : {}),
            }),
            { owns: isGitopsPath },
          )
        : await writeOutput(out, opts.chart !== undefined ? renderChart(loaded[0]!) : renderBox(loaded[0]!));
      const count = (action: FileAction['action']) => files.filter((f) => f.action === action).length;
      const result: RenderResult = {
        box: loaded[0]!.metadata.name,
        boxes: loaded.map((b) => b.metadata.name),
        out,
        written: count('write'),
        unchanged: count('unchanged'),
        removed: count('remove'),
        files,
      };
      emit(result, opts.output, text);
    });
}
