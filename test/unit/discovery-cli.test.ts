import { describe, expect, it } from 'vitest';
import { edgebox } from './run-cli.js';

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
