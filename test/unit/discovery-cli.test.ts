import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the built CLI as a user would (`npm test` builds first). */
function edgebox(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/edgebox.js', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('edgebox agent discover', () => {
  it('prints the hardware, capabilities, resources and notes as JSON', () => {
    const r = edgebox('agent', 'discover', '--root', 'test/fixtures/hosts/turing-rk1-16gb', '-o', 'json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ hardware: 'turing-rk1-16gb', resources: { cpus: 8, extended: { 'edgebox.dev/npu': 1 } }, notes: [] });
    expect(out.capabilities).toContain('npu');
  });

  it('says in text why a broken host has no hardware id, and exits 0', () => {
    const r = edgebox('agent', 'discover', '--root', 'test/fixtures/hosts/broken-xavier-nx');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('hardware:    none (see notes)');
    expect(r.stdout).toContain('a Jetson Xavier NX (model string), but its memory size is unknown');
  });

  it.each([
    ['publish without --node', ['agent', 'publish', '--spec', 'examples/article-box.yaml']],
    ['publish with a missing spec', ['agent', 'publish', '--node', 'jetson-1', '--spec', 'no/such/box.yaml']],
  ])('%s is bad input (exit 2)', (_name, args) => {
    expect(edgebox(...args).code).toBe(2);
  });
});
