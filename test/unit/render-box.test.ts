import { mkdtemp, readFile, rm, writeFile, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeboxError } from '../../src/diagnostics/diagnostic.js';
import { renderClusterObjects } from '../../src/render/cluster-objects.js';
import { isRenderedPath, planOutput, writeOutput } from '../../src/render/output-dir.js';
import { renderBox, type RenderedFile } from '../../src/render/render-box.js';
import { commentedYaml, yamlStream } from '../../src/render/yaml-output.js';
import { EXAMPLES, example, labBox } from './render-fixtures.js';

describe('renderBox', () => {
  it('lays out README, one K3s and one systemd directory per module and the manifests, sorted by path', () => {
    expect(renderBox(labBox()).map((f) => f.path)).toEqual([
      'README.md',
      'k3s/a1/config.yaml',
      'k3s/a1/edgebox-kubelet.conf',
      'k3s/gpu-1/config.yaml',
      'k3s/gpu-1/edgebox-kubelet.conf',
      'k3s/s1/config.yaml',
      'k3s/s1/edgebox-kubelet.conf',
      'k3s/s2/config.yaml',
      'k3s/s2/edgebox-kubelet.conf',
      'k3s/s3/config.yaml',
      'k3s/s3/edgebox-kubelet.conf',
      'manifests/00-namespace.yaml',
      'manifests/10-priority-classes.yaml',
      'manifests/11-runtime-classes.yaml',
      'manifests/20-workload-be.yaml',
      'manifests/20-workload-crit.yaml',
      'manifests/20-workload-ds.yaml',
      'manifests/20-workload-idle.yaml',
      'manifests/20-workload-single.yaml',
      'manifests/20-workload-std.yaml',
      'manifests/20-workload-sts-single.yaml',
      'manifests/20-workload-sts.yaml',
      'manifests/20-workload-vision.yaml',
      'manifests/30-edgebox-controller.yaml',
      'manifests/31-edgebox-agent.yaml',
      'monitoring/edgebox-monitoring.yaml',
      'systemd/a1/edgebox-agent.service',
      'systemd/gpu-1/edgebox-agent.service',
      'systemd/s1/edgebox-agent.service',
      'systemd/s1/k3s.service.d/10-edgebox.conf',
      'systemd/s2/edgebox-agent.service',
      'systemd/s2/k3s.service.d/10-edgebox.conf',
      'systemd/s3/edgebox-agent.service',
      'systemd/s3/k3s.service.d/10-edgebox.conf',
    ]);
  });

  it.each(EXAMPLES)('%s: every manifest parses back as multi-document YAML with apiVersion, kind and metadata.name', (name) => {
    const box = example(name);
    const manifests = renderBox(box).filter((f) => f.path.startsWith('manifests/'));
    const docs = manifests.flatMap((f) =>
      parseAllDocuments(f.content).map((d) => {
        expect(d.errors, f.path).toEqual([]);
        return d.toJS({ maxAliasCount: 0 }) as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
      }),
    );
    for (const d of docs) {
      expect(typeof d.apiVersion).toBe('string');
      expect(typeof d.kind).toBe('string');
      // DNS subdomains: the CRD's name has dots.
      expect(d.metadata?.name).toMatch(/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/);
    }
    // The files hold exactly what renderClusterObjects returns, which is what `edgebox apply` sends.
    const objects = renderClusterObjects(box);
    const key = (o: { kind?: unknown; metadata?: { name?: unknown } }) => `${String(o.kind)}/${String(o.metadata?.name)}`;
    expect(docs.map(key).sort()).toEqual(objects.map(key).sort());
    expect(docs.map((d) => JSON.stringify(d)).sort()).toEqual(objects.map((o) => JSON.stringify(o)).sort());
  });

  it.each(EXAMPLES)('%s: renders the same files twice', (name) => {
    expect(renderBox(example(name))).toEqual(renderBox(example(name)));
  });

  it('only writes paths it may later remove as stale', () => {
    for (const f of renderBox(labBox())) expect(isRenderedPath(f.path), f.path).toBe(true);
  });

  it('tells in the README how each module starts', () => {
    const readme = renderBox(labBox({ apiAddress: '10.0.0.100' })).find((f) => f.path === 'README.md')!.content;
    expect(readme).toContain('| s1 | rpi-cm4-8gb | 10.0.0.1 | first server (`cluster-init`) | `sh -s - server` |');
    expect(readme).toContain('| a1 | rpi-cm4-2gb | 10.0.0.5 | agent | `sh -s - agent` |');
    expect(readme).toContain('10.0.0.100');
  });
});

describe('YAML output', () => {
  it('quotes strings a YAML 1.1 reader (kubectl, K3s) would take for booleans or numbers', () => {
    const values = { a: 'on', b: 'yes', c: 'y', d: 'true', e: '1:20', f: 'plain', g: 'x=on' };
    const text = yamlStream('h', [values]);
    expect(parse(text, { version: '1.1' })).toEqual(values);
    expect(parse(text)).toEqual(values);
    expect(text).toContain('f: plain\n');
    expect(text).toContain('g: x=on\n');
  });

  it('writes comments above keys and list items, wrapped', () => {
    const text = commentedYaml('head', [{ key: 'k', comment: 'why '.repeat(40).trim(), value: [{ value: 'v', comment: 'because' }] }]);
    expect(text).toMatch(/^# head\n\n# why why/);
    expect(text).toContain('  # because\n  - v\n');
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
  });

  it('separates documents with ---', () => {
    expect(yamlStream('h', [{ a: 1 }, { b: 2 }])).toBe('# h\n\na: 1\n---\nb: 2\n');
  });
});

describe('output directory', () => {
  const f = (path: string, content = 'x'): RenderedFile => ({ path, content });

  it.each([
    ['a new file is written', [f('README.md')], [], [['README.md', 'write']]],
    ['an identical file is left alone', [f('README.md')], [['README.md', 'x']], [['README.md', 'unchanged']]],
    ['a changed file is rewritten', [f('README.md', 'y')], [['README.md', 'x']], [['README.md', 'write']]],
    [
      'a stale manifest is removed',
      [f('README.md')],
      [
        ['README.md', 'x'],
        ['manifests/20-workload-old.yaml', 'x'],
      ],
      [
        ['README.md', 'unchanged'],
        ['manifests/20-workload-old.yaml', 'remove'],
      ],
    ],
    [
      "a dropped module's config is removed",
      [],
      [
        ['k3s/old/config.yaml', 'x'],
        ['k3s/old/edgebox-kubelet.conf', 'x'],
      ],
      [
        ['k3s/old/config.yaml', 'remove'],
        ['k3s/old/edgebox-kubelet.conf', 'remove'],
      ],
    ],
    [
      'a file render never writes is kept',
      [],
      [
        ['manifests/99-mine.yaml', 'x'],
        ['notes.txt', 'x'],
      ],
      [],
    ],
  ] as const)('%s', (_why, files, existing, expected) => {
    expect(planOutput(files, new Map(existing)).map((a) => [a.path, a.action])).toEqual(expected);
  });

  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("creates the directory, then rewrites nothing, then removes what the spec dropped and keeps the user's files", async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgebox-render-'));
    const out = join(dir, 'out');
    const files = renderBox(labBox());
    expect((await writeOutput(out, files)).every((a) => a.action === 'write')).toBe(true);
    expect(await readFile(join(out, 'k3s/s1/config.yaml'), 'utf8')).toBe(files.find((x) => x.path === 'k3s/s1/config.yaml')!.content);
    expect((await writeOutput(out, files)).every((a) => a.action === 'unchanged')).toBe(true);

    await writeFile(join(out, 'manifests/99-mine.yaml'), 'kind: Mine\n');
    const fewer = files.filter((x) => x.path !== 'manifests/20-workload-be.yaml' && !x.path.startsWith('k3s/a1/'));
    const actions = await writeOutput(out, fewer);
    expect(actions.filter((a) => a.action === 'remove').map((a) => a.path)).toEqual([
      'k3s/a1/config.yaml',
      'k3s/a1/edgebox-kubelet.conf',
      'manifests/20-workload-be.yaml',
    ]);
    expect(await readdir(join(out, 'k3s'))).not.toContain('a1');
    expect(await readdir(join(out, 'manifests'))).toContain('99-mine.yaml');
  });

  it('reports a directory it cannot write as a failure diagnostic', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgebox-render-'));
    await mkdir(join(dir, 'a'));
    await writeFile(join(dir, 'a', 'file'), 'x');
    const error = await writeOutput(join(dir, 'a', 'file'), [f('README.md')]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgeboxError);
    expect((error as EdgeboxError).kind).toBe('failure');
    expect((error as EdgeboxError).diagnostics[0]?.code).toBe('render.write-failed');
  });
});
