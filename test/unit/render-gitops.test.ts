import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { renderGitops } from '../../src/render/gitops.js';
import { isGitopsPath, planOutput } from '../../src/render/output-dir.js';
import { manifestFiles } from '../../src/render/render-box.js';
import { EXAMPLES, example } from './render-fixtures.js';

const boxes = EXAMPLES.map(example);
const repoUrl = 'https://git.example.com/boxes.git';

/*
 * These tests check the structure the tools document: Fleet's fleet.yaml reference
 * (defaultNamespace, labels, targetCustomizations with clusterSelector and doNotDeploy) and the
 * ApplicationSet CRD's fields (spec.generators[].clusters.selector, spec.template.spec.source,
 * destination, syncPolicy). Argo CD's own CRD validates the ApplicationSets on a real API server
 * in test/integration/gitops-schemas.test.ts; Fleet's CRDs cannot be had here (that file says
 * why).
 */
const FLEET_YAML_FIELDS = new Set(['defaultNamespace', 'namespace', 'labels', 'targetCustomizations', 'dependsOn', 'name', 'helm', 'kustomize', 'diff']);
const TARGET_CUSTOMIZATION_FIELDS = new Set([
  'name',
  'clusterSelector',
  'clusterGroup',
  'clusterGroupSelector',
  'clusterName',
  'doNotDeploy',
  'defaultNamespace',
]);

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values: string[] }[];
}

/** A label selector's verdict on a cluster's labels (Kubernetes' rules for In/NotIn/Exists). */
function selects(s: Selector, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(s.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (s.matchExpressions ?? []).every((e) =>
    e.operator === 'In' ? e.values.includes(labels[e.key] ?? '\0') : e.operator === 'NotIn' ? !e.values.includes(labels[e.key] ?? '\0') : e.key in labels,
  );
  return byLabels && byExpressions;
}

describe('render --gitops fleet', () => {
  const files = renderGitops(boxes, { tool: 'fleet' });

  it('writes one bundle per box: its manifests and a fleet.yaml, nothing from the hosts', () => {
    for (const box of boxes) {
      const dir = `boxes/${box.metadata.name}/`;
      const expected = [...manifestFiles(box).map((f) => `${dir}${f.path}`), `${dir}fleet.yaml`].sort();
      expect(files.filter((f) => f.path.startsWith(dir)).map((f) => f.path)).toEqual(expected);
    }
    expect(files.every((f) => isGitopsPath(f.path))).toBe(true);
    expect(files.some((f) => /k3s\/|systemd\/|README|token|secret/i.test(f.path))).toBe(false);
    const kinds = files
      .filter((f) => f.path.includes('/manifests/'))
      .flatMap((f) => parseAllDocuments(f.content).map((d) => (d.toJS() as { kind: string }).kind));
    expect(kinds).not.toContain('Secret');
  });

  it.each(boxes.map((b) => [b.metadata.name]))('the %s bundle deploys to its own cluster only, with documented fleet.yaml fields', (name) => {
    const fleet = parse(files.find((f) => f.path === `boxes/${name}/fleet.yaml`)!.content) as {
      defaultNamespace: string;
      targetCustomizations: { name: string; clusterSelector: Selector; doNotDeploy?: boolean }[];
    };
    for (const k of Object.keys(fleet)) expect(FLEET_YAML_FIELDS, k).toContain(k);
    for (const t of fleet.targetCustomizations) for (const k of Object.keys(t)) expect(TARGET_CUSTOMIZATION_FIELDS, k).toContain(k);
    expect(fleet.defaultNamespace).toBe(name);
    // Fleet applies the first targetCustomization that matches a cluster.
    const deploysTo = (labels: Record<string, string>) => fleet.targetCustomizations.find((t) => selects(t.clusterSelector, labels))?.doNotDeploy !== true;
    expect(deploysTo({ 'edgebox.dev/box': name })).toBe(true);
    expect(deploysTo({ 'edgebox.dev/box': 'another-box' })).toBe(false);
    expect(deploysTo({})).toBe(false);
  });

  it.each(boxes.map((b) => [b.metadata.name]))('the %s bundle gzips under 1 MB', (name) => {
    const bundle = files.filter((f) => f.path.startsWith(`boxes/${name}/`)).map((f) => f.content);
    const size = gzipSync(Buffer.from(bundle.join('\n'))).length;
    expect(size).toBeLessThan(1024 * 1024);
  });

  it('refuses two specs of the same box', () => {
    expect(() => renderGitops([boxes[0]!, boxes[0]!], { tool: 'fleet' })).toThrow(/two specs name box/);
  });

  it('a second render of the same boxes changes nothing; a dropped box is removed', () => {
    const existing = new Map(files.map((f) => [f.path, f.content]));
    expect(planOutput(files, existing, isGitopsPath).every((a) => a.action === 'unchanged')).toBe(true);
    const fewer = renderGitops(boxes.slice(1), { tool: 'fleet' });
    const removed = planOutput(fewer, existing, isGitopsPath).filter((a) => a.action === 'remove');
    expect(removed.length).toBeGreaterThan(0);
    expect(removed.every((a) => a.path.startsWith(`boxes/${boxes[0]!.metadata.name}/`))).toBe(true);
  });
});

describe('render --gitops argocd', () => {
  const files = renderGitops(boxes, { tool: 'argocd', repoUrl });

  it('needs the repository URL', () => {
    expect(() => renderGitops(boxes, { tool: 'argocd' })).toThrow(/repository/);
  });

  it.each(boxes.map((b) => [b.metadata.name]))('one ApplicationSet for %s, generating an Application for its labelled cluster from its manifests', (name) => {
    const set = parse(files.find((f) => f.path === `applicationsets/${name}.yaml`)!.content) as {
      apiVersion: string;
      kind: string;
      metadata: { name: string; namespace: string };
      spec: {
        generators: { clusters: { selector: Selector } }[];
        template: {
          metadata: { name: string };
          spec: {
            project: string;
            source: { repoURL: string; targetRevision: string; path: string };
            destination: { server: string; namespace: string };
            syncPolicy: { automated: { prune: boolean; selfHeal: boolean }; syncOptions: string[] };
          };
        };
      };
    };
    expect(set).toMatchObject({ apiVersion: 'argoproj.io/v1alpha1', kind: 'ApplicationSet', metadata: { name: `edgebox-${name}`, namespace: 'argocd' } });
    expect(set.spec.generators).toHaveLength(1);
    expect(selects(set.spec.generators[0]!.clusters.selector, { 'edgebox.dev/box': name })).toBe(true);
    expect(selects(set.spec.generators[0]!.clusters.selector, { 'edgebox.dev/box': 'other' })).toBe(false);
    expect(set.spec.template.spec.source).toEqual({ repoURL: repoUrl, targetRevision: 'HEAD', path: `boxes/${name}/manifests` });
    expect(files.some((f) => f.path.startsWith(`boxes/${name}/manifests/`))).toBe(true);
    expect(set.spec.template.spec.destination).toEqual({ server: '{{.server}}', namespace: name });
    // The Application name differs per cluster, as the generator's parameters make it.
    expect(set.spec.template.metadata.name).toContain('{{.name}}');
  });

  it('has no fleet.yaml and no host files', () => {
    expect(files.some((f) => f.path.endsWith('fleet.yaml') || /k3s\/|systemd\//.test(f.path))).toBe(false);
  });
});
