import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryPath, toolchainPaths } from '../../src/local/cache.js';
import { loadPackagingToolchain } from '../../src/local/toolchain.js';
import { chartObjects, renderChart } from '../../src/render/chart.js';
import { CONTROLLER_IMAGE } from '../../src/render/controller.js';
import type { KubeObject } from '../../src/render/kube-object.js';
import { writeOutput } from '../../src/render/output-dir.js';
import { EXAMPLES, example } from '../unit/render-fixtures.js';

/**
 * The chart `edgebox render --chart` writes, rendered by the real helm (built by `edgebox local
 * setup` from helm.sh/helm/v4), gives exactly the objects render and apply produce from the same
 * spec: no cluster needed, only the binary.
 */
const run = promisify(execFile);
let helm: string;
let dir: string;

const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byKey = (objects: KubeObject[]) => [...objects].sort((a, b) => key(a).localeCompare(key(b)));
/** As YAML gives them back: no undefined fields, numbers and strings as written. */
const plain = (objects: KubeObject[]) => JSON.parse(JSON.stringify(byKey(objects))) as KubeObject[];

async function template(chart: string, ...args: string[]): Promise<KubeObject[]> {
  const { stdout } = await run(helm, ['template', 'edgebox', chart, '--include-crds', ...args], { maxBuffer: 64 * 2 ** 20 });
  return byKey(
    parseAllDocuments(stdout)
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null),
  );
}

beforeAll(async () => {
  helm = binaryPath(toolchainPaths(await loadPackagingToolchain()), 'helm');
  dir = await mkdtemp(join(tmpdir(), 'edgebox-chart-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('edgebox render --chart, rendered by helm template', () => {
  it.each(EXAMPLES)('%s: the same objects as render and apply, monitoring off by default and on when asked', async (name) => {
    const box = example(name);
    const chart = join(dir, name);
    await writeOutput(chart, renderChart(box));
    await run(helm, ['lint', '--strict', chart]).catch((e: { stdout?: string }) => {
      throw new Error(`helm lint failed:\n${e.stdout}`);
    });
    const { crds, core, monitoring } = chartObjects(box);
    expect(await template(chart)).toEqual(plain([...crds, ...core]));
    expect(await template(chart, '--set', 'monitoring.enabled=true')).toEqual(plain([...crds, ...core, ...monitoring]));
  });

  it('the image is the one value: set, it changes the controller container and nothing else', async () => {
    const box = example('article-box');
    const chart = join(dir, 'image');
    await writeOutput(chart, renderChart(box));
    const objects = await template(chart, '--set', 'image=registry.local/edgebox:test');
    const images = JSON.stringify(objects).match(/"image":"[^"]*edgebox[^"]*"/g);
    expect(images).toEqual(['"image":"registry.local/edgebox:test"']);
    expect(JSON.stringify(objects).replace('registry.local/edgebox:test', CONTROLLER_IMAGE)).toBe(JSON.stringify(await template(chart)));
  });
});
