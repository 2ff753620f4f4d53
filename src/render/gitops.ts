import { LABELS } from '../contract/labels.js';
import { inputError } from '../diagnostics/diagnostic.js';
import type { BoxSpec } from '../spec/schema.js';
import { manifestFiles, type RenderedFile } from './render-box.js';
import { yamlStream } from './yaml-output.js';

export const GITOPS_TOOLS = ['fleet', 'argocd'] as const;
export type GitopsTool = (typeof GITOPS_TOOLS)[number];

export interface GitopsOptions {
  tool: GitopsTool;
  /** Argo CD only: the Git repository the layout is pushed to (an Application's `repoURL`). */
  repoUrl?: string;
  /** Argo CD only: the branch, tag or commit to follow. Default: HEAD. */
  revision?: string;
  /** Argo CD only: the namespace Argo CD runs in, where ApplicationSets live. Default: argocd. */
  argoNamespace?: string;
}

/** Where a box's manifests go in the repository. */
export const boxDir = (box: BoxSpec) => `boxes/${box.metadata.name}`;

/**
 * Fleet: one bundle per box (a directory with `fleet.yaml`), deployed only to the downstream
 * cluster labelled `edgebox.dev/box=<box>`: targetCustomizations are matched in order, the
 * first names the box's cluster, the second keeps every other cluster out (`doNotDeploy`), so a
 * GitRepo may target all clusters and each box still gets only its own bundle.
 */
function fleetYaml(box: BoxSpec): string {
  const name = box.metadata.name;
  return yamlStream(`edgebox: the Fleet bundle of box ${name}; deployed to the cluster labelled ${LABELS.box}=${name} only.`, [
    {
      defaultNamespace: name,
      labels: { [LABELS.box]: name },
      targetCustomizations: [
        { name, clusterSelector: { matchLabels: { [LABELS.box]: name } } },
        {
          name: 'other-clusters',
          clusterSelector: { matchExpressions: [{ key: LABELS.box, operator: 'NotIn', values: [name] }] },
          doNotDeploy: true,
        },
      ],
    },
  ]);
}

/**
 * Argo CD: one ApplicationSet per box, whose cluster generator picks the clusters registered
 * with the label `edgebox.dev/box=<box>` and makes one Application of the box's manifests for
 * each. Server-side apply, as `edgebox apply` does; pruning, since a workload the spec dropped
 * must go.
 */
function applicationSet(box: BoxSpec, opts: GitopsOptions & { repoUrl: string }): string {
  const name = box.metadata.name;
  return yamlStream(`edgebox: the Argo CD ApplicationSet of box ${name}; apply it where Argo CD runs.`, [
    {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'ApplicationSet',
      metadata: { name: `edgebox-${name}`, namespace: opts.argoNamespace ?? 'argocd', labels: { [LABELS.box]: name } },
      spec: {
        goTemplate: true,
        goTemplateOptions: ['missingkey=error'],
        generators: [{ clusters: { selector: { matchLabels: { [LABELS.box]: name } } } }],
        template: {
          metadata: { name: `edgebox-${name}-{{.name}}`, labels: { [LABELS.box]: name } },
          spec: {
            project: 'default',
            source: { repoURL: opts.repoUrl, targetRevision: opts.revision ?? 'HEAD', path: `${boxDir(box)}/manifests` },
            destination: { server: '{{.server}}', namespace: name },
            syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['ServerSideApply=true'] },
          },
        },
      },
    },
  ]);
}

/**
 * A GitOps repository layout for many boxes: each box's cluster objects (manifests/ only; K3s
 * configurations, agent units and anything secret are host files and stay out) under
 * `boxes/<box>/`, plus Fleet's `fleet.yaml` beside them or Argo CD's
 * `applicationsets/<box>.yaml`. Sorted by path, deterministic.
 */
export function renderGitops(boxes: readonly BoxSpec[], opts: GitopsOptions): RenderedFile[] {
  const seen = new Set<string>();
  for (const box of boxes) {
    if (seen.has(box.metadata.name)) {
      throw inputError('render.duplicate-box', `two specs name box '${box.metadata.name}'`, 'every box in one repository needs its own metadata.name');
    }
    seen.add(box.metadata.name);
  }
  const { repoUrl } = opts;
  if (opts.tool === 'argocd' && !repoUrl) {
    throw inputError('render.repo-url-missing', 'Argo CD ApplicationSets need the repository they read from', 'pass --repo-url <git URL>');
  }
  const files = boxes.flatMap((box) => [
    ...manifestFiles(box).map((f) => ({ path: `${boxDir(box)}/${f.path}`, content: f.content })),
    opts.tool === 'fleet'
      ? { path: `${boxDir(box)}/fleet.yaml`, content: fleetYaml(box) }
      : { path: `applicationsets/${box.metadata.name}.yaml`, content: applicationSet(box, { ...opts, repoUrl: repoUrl! }) },
  ]);
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
