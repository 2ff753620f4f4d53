import { describe, expect, it } from 'vitest';
import { EdgeboxError, type Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { renderBox } from '../../src/render/render-box.js';
import { DEFAULT_K3S_VERSION, unsupportedSettings } from '../../src/spec/k3s-version.js';
import { parseSpec } from '../../src/spec/load.js';

/** The errors only: the one-server box also warns about its single server. */
function errorsOf(text: string): Diagnostic[] {
  try {
    parseSpec(text, 'box.yaml');
  } catch (e) {
    if (e instanceof EdgeboxError) return e.diagnostics.filter((d) => d.severity === 'error');
    throw e;
  }
  return [];
}

const box = (k3s: string | undefined) =>
  [
    'apiVersion: edgebox.dev/v1alpha1',
    'kind: EdgeBox',
    'metadata: { name: t }',
    'spec:',
    '  controlPlane: { servers: 1 }',
    ...(k3s === undefined ? [] : ['  k3s:', `    version: ${k3s}`]),
    '  modules:',
    '    - { name: a, hardware: rpi-cm4-4gb, address: 10.0.0.1 }',
    '',
  ].join('\n');

describe('spec.k3s.version: the pinned K3s release', () => {
  it.each([
    ['v1.31.1+k3s1', ['kubelet configuration file']],
    ['v1.31.1+k3s-c0d661b3', ['kubelet configuration file']],
    ['v0.9.0+k3s1', ['kubelet configuration file']],
    ['v1.32.0+k3s1', []],
    ['v1.33.4+k3s1', []],
    ['v2.0.0+k3s1', []],
  ])('%s: unsupported %j', (version, settings) => {
    expect(unsupportedSettings(version).map((r) => r.setting.split(' (')[0]?.replace(/^the /, ''))).toEqual(settings);
  });

  it('refuses a release older than what a rendered setting needs, at the version line, with the fix', () => {
    const ds = errorsOf(box('v1.31.1+k3s1'));
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({ code: 'spec.k3s-version-unsupported', severity: 'error', location: { file: 'box.yaml', line: 7, col: 14 } });
    expect(ds[0]?.hint).toContain('v1.32 or later');
  });

  it.each([['1.32.5'], ['v1.32.5'], ['latest']])('refuses %s: not a K3s version', (version) => {
    expect(errorsOf(box(version)).map((d) => d.location?.line)).toEqual([7]);
  });

  it('defaults to a release that supports every rendered setting, and renders it into the install steps', () => {
    const { box: spec, diagnostics } = parseSpec(box(undefined), 'box.yaml');
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(spec.spec.k3s.version).toBe(DEFAULT_K3S_VERSION);
    expect(unsupportedSettings(DEFAULT_K3S_VERSION)).toEqual([]);
    const readme = renderBox(parseSpec(box('v1.33.4+k3s1'), 'box.yaml').box).find((f) => f.path === 'README.md')?.content;
    expect(readme).toContain('INSTALL_K3S_VERSION=v1.33.4+k3s1 sh -s - server');
  });
});
