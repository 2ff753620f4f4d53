import { isScalar, isSeq, parse, parseDocument, visit } from 'yaml';
import { describe, expect, it } from 'vitest';
import { RESERVE } from '../../src/catalog/reserve.js';
import { joinUrl, k3sRoles, KUBELET_CONFIG_PATH, renderK3sConfig, renderKubeletConfig, taintArg, TOKEN_FILE } from '../../src/render/k3s-config.js';
import { nodeLabels } from '../../src/render/node-metadata.js';
import { renderBox } from '../../src/render/render-box.js';
import { TUNED, TUNING_REASONS } from '../../src/render/tuning.js';
import type { BoxSpec } from '../../src/spec/schema.js';
import { EXAMPLES, example, labBox } from './render-fixtures.js';

type Config = Record<string, unknown>;

function configOf(box: BoxSpec, module: string): Config {
  const m = box.spec.modules.find((x) => x.name === module);
  if (!m) throw new Error(`no module ${module}`);
  return parse(renderK3sConfig(box, m), { version: '1.1' }) as Config;
}

/** Every comment of a YAML text, joined into one line (render wraps long reasons). */
function commentsOf(text: string): string {
  const doc = parseDocument(text);
  const parts: string[] = [doc.commentBefore ?? ''];
  visit(doc, {
    Node(_k, n) {
      if (n.commentBefore) parts.push(n.commentBefore);
    },
    Pair(_k, p) {
      if (isScalar(p.key) && p.key.commentBefore) parts.push(p.key.commentBefore);
    },
  });
  return parts.join(' ').replace(/\s+/g, ' ');
}
const oneLine = (s: string) => s.replace(/\s+/g, ' ');

/** Keys K3s accepts on `k3s agent` (docs.k3s.io/cli/agent) among those render writes. */
const AGENT_KEYS = ['server', 'token-file', 'node-name', 'node-ip', 'node-label', 'node-taint', 'kubelet-arg'];
const SERVER_ONLY_KEYS = ['cluster-init', 'tls-san', 'kube-apiserver-arg', 'kube-controller-manager-arg', 'etcd-arg'];

describe('K3s config.yaml per module', () => {
  const box = labBox({ apiAddress: '10.0.0.100' });

  it("takes plan's ranked initial servers, not the spec order: s1 creates the cluster", () => {
    expect(Object.fromEntries(k3sRoles(box))).toEqual({ s1: 'cluster-init', s2: 'server', s3: 'server', 'gpu-1': 'agent', a1: 'agent' });
    expect(Object.fromEntries(k3sRoles(labBox({ servers: 1 })))).toEqual({ s1: 'cluster-init', s2: 'agent', s3: 'agent', 'gpu-1': 'agent', a1: 'agent' });
  });

  it('the first server has cluster-init and no server: key', () => {
    const c = configOf(box, 's1');
    expect(c['cluster-init']).toBe(true);
    expect(c).not.toHaveProperty('server');
  });

  it.each(['s2', 's3', 'gpu-1', 'a1'])('%s joins through the API address and never runs cluster-init', (m) => {
    const c = configOf(box, m);
    expect(c.server).toBe('https://10.0.0.100:6443');
    expect(c).not.toHaveProperty('cluster-init');
  });

  it.each([
    ['no API address: the first server', labBox(), 'https://10.0.0.1:6443'],
    ['an IPv6 API address, bracketed', labBox({ apiAddress: 'fd00::100' }), 'https://[fd00::100]:6443'],
    ['an IPv6 first server, bracketed', labBox({ addresses: ['fd00::1', 'fd00::2', 'fd00::3', 'fd00::4', 'fd00::5'] }), 'https://[fd00::1]:6443'],
  ])('join URL with %s', (_why, b, url) => {
    expect(joinUrl(b)).toBe(url);
    expect(configOf(b, 'a1').server).toBe(url);
  });

  it.each([
    ['s1', ['10.0.0.100']],
    ['s2', ['10.0.0.100']],
  ])('server %s has tls-san %j', (m, san) => {
    expect(configOf(box, m)['tls-san']).toEqual(san);
  });

  it('agent a1 has no tls-san', () => {
    expect(configOf(box, 'a1')).not.toHaveProperty('tls-san');
  });

  it('writes no tls-san without an API address', () => {
    expect(configOf(labBox(), 's1')).not.toHaveProperty('tls-san');
  });

  it.each(['gpu-1', 'a1'])('agent %s has only agent keys', (m) => {
    const keys = Object.keys(configOf(box, m));
    for (const k of keys) expect(AGENT_KEYS, `${m}: ${k}`).toContain(k);
    for (const k of SERVER_ONLY_KEYS) expect(keys).not.toContain(k);
  });

  it.each(['s1', 's2', 's3'])('server %s carries the control-plane tuning from TUNED', (m) => {
    const c = configOf(box, m);
    expect(c['kube-controller-manager-arg']).toEqual([
      `node-monitor-period=${TUNED.nodeMonitorPeriodSeconds}s`,
      `node-monitor-grace-period=${TUNED.nodeMonitorGracePeriodSeconds}s`,
    ]);
    expect(c['kube-apiserver-arg']).toEqual([
      `default-not-ready-toleration-seconds=${TUNED.defaultTolerationSeconds}`,
      `default-unreachable-toleration-seconds=${TUNED.defaultTolerationSeconds}`,
    ]);
    expect(c['etcd-arg']).toEqual([`heartbeat-interval=${TUNED.etcdHeartbeatMs}`, `election-timeout=${TUNED.etcdElectionTimeoutMs}`]);
  });

  it.each([
    ['s1', 'server', '650m', '1536Mi'],
    ['a1', 'agent', '150m', '256Mi'],
  ])('%s (%s) reserves for the OS and K3s what the planner subtracts', (m, role, cpu, memory) => {
    expect(configOf(box, m)['kubelet-arg']).toEqual([
      `node-status-update-frequency=${TUNED.nodeStatusUpdateFrequencySeconds}s`,
      `config=${KUBELET_CONFIG_PATH}`,
      `system-reserved=cpu=${RESERVE.system.cpuMillis}m,memory=${RESERVE.system.memoryBytes / 2 ** 20}Mi`,
      `kube-reserved=cpu=${cpu},memory=${memory}`,
    ]);
    expect(RESERVE[role as 'server' | 'agent']).toEqual({ cpuMillis: parseInt(cpu, 10), memoryBytes: parseInt(memory, 10) * 2 ** 20 });
  });

  it('puts the node lease duration, which has no kubelet flag, in the kubelet config file', () => {
    expect(parse(renderKubeletConfig())).toEqual({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      nodeLeaseDurationSeconds: TUNED.nodeLeaseDurationSeconds,
    });
    expect(oneLine(commentsOf(renderKubeletConfig()))).toContain(oneLine(TUNING_REASONS.nodeLeaseDurationSeconds));
  });

  it('writes the reason of every tuned value as a comment', () => {
    const server = commentsOf(
      renderK3sConfig(
        box,
        box.spec.modules.find((m) => m.name === 's1')!,
      ),
    );
    for (const reason of Object.values(TUNING_REASONS).filter((r) => r !== TUNING_REASONS.tolerationSeconds && r !== TUNING_REASONS.nodeLeaseDurationSeconds)) {
      expect(server).toContain(oneLine(reason));
    }
    const agent = commentsOf(
      renderK3sConfig(
        box,
        box.spec.modules.find((m) => m.name === 'a1')!,
      ),
    );
    expect(agent).toContain(oneLine(TUNING_REASONS.nodeStatusUpdateFrequencySeconds));
    expect(agent).not.toContain(oneLine(TUNING_REASONS.etcdHeartbeat));
  });

  it("labels each node with nodeLabels(), in K3s's key=value form", () => {
    for (const m of box.spec.modules) {
      expect(configOf(box, m.name)['node-label']).toEqual(Object.entries(nodeLabels(box, m)).map(([k, v]) => `${k}=${v}`));
    }
    // A YAML 1.1 reader (K3s) must read the label value `on` as the string it is.
    expect(configOf(box, 'a1')['node-label']).toContain('mode=on');
  });

  it.each([
    [{ key: 'edgebox.dev/accelerator', value: 'gpu', effect: 'NoSchedule' as const }, 'edgebox.dev/accelerator=gpu:NoSchedule'],
    [{ key: 'dedicated', value: '', effect: 'NoExecute' as const }, 'dedicated:NoExecute'],
  ])('taint %j is written as %s', (taint, arg) => {
    expect(taintArg(taint)).toBe(arg);
  });

  it('taints the accelerator module and no other', () => {
    expect(configOf(box, 'gpu-1')['node-taint']).toEqual(['edgebox.dev/accelerator=gpu:NoSchedule']);
    for (const m of ['s1', 's2', 's3', 'a1']) expect(configOf(box, m)).not.toHaveProperty('node-taint');
  });

  it('names each node after its module, on its address', () => {
    expect(configOf(box, 's2')).toMatchObject({ 'node-name': 's2', 'node-ip': '10.0.0.2' });
  });

  it.each(EXAMPLES)('%s: every module references the token file and no file holds a token', (name) => {
    const b = example(name);
    for (const m of b.spec.modules) {
      const c = configOf(b, m.name);
      expect(c['token-file']).toBe(TOKEN_FILE);
      expect(c).not.toHaveProperty('token');
      expect(c).not.toHaveProperty('agent-token');
    }
    for (const f of renderBox(b)) {
      expect(f.content, f.path).not.toMatch(/^\s*(token|agent-token)\s*:/m);
      expect(f.content, f.path).not.toMatch(/K3S_TOKEN=/);
    }
  });

  it.each(EXAMPLES)('%s: exactly one module runs cluster-init, and every list is a YAML sequence', (name) => {
    const b = example(name);
    const inits = b.spec.modules.filter((m) => configOf(b, m.name)['cluster-init'] === true);
    expect(inits).toHaveLength(1);
    for (const m of b.spec.modules) {
      const doc = parseDocument(renderK3sConfig(b, m));
      expect(doc.errors).toEqual([]);
      for (const key of ['node-label', 'kubelet-arg']) expect(isSeq(doc.get(key))).toBe(true);
    }
  });
});
