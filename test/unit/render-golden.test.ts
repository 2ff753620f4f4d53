import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderBox } from '../../src/render/render-box.js';
import { EXAMPLES, example } from './render-fixtures.js';

/**
 * The render of each example, file by file, against test/golden/<example>/. Any difference
 * fails; after an intended change, regenerate with
 *   UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/render-golden.test.ts
 * and review the diff of test/golden/ like any other change.
 */
const GOLDEN = fileURLToPath(new URL('../golden', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';
// In CI the golden files are what is checked, never what is written: an update there would make
// every render pass.
if (update && process.env.CI) throw new Error('UPDATE_GOLDEN is refused when CI is set: regenerate the golden files on your machine and commit them');

function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((p) => statSync(join(dir, p)).isFile())
      .map((p) => p.split(sep).join('/'))
      .sort();
  } catch {
    return [];
  }
}

describe.each(EXAMPLES)('golden render of examples/%s.yaml', (name) => {
  const dir = join(GOLDEN, name);
  const rendered = renderBox(example(name));

  if (update) {
    rmSync(dir, { recursive: true, force: true });
    for (const f of rendered) {
      mkdirSync(dirname(join(dir, f.path)), { recursive: true });
      writeFileSync(join(dir, f.path), f.content);
    }
  }

  it('renders exactly the golden files', () => {
    expect(rendered.map((f) => f.path)).toEqual(filesUnder(dir));
  });

  it.each(rendered.map((f) => [f.path, f.content]))('%s matches', (path, content) => {
    expect(content).toBe(readFileSync(join(dir, path), 'utf8'));
  });
});
