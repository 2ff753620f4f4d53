import { readFileSync } from 'node:fs';
import { parseSpec } from '../../src/spec/load.js';
import type { BoxSpec } from '../../src/spec/schema.js';

export const EXAMPLES = ['article-box', 'jetson-mate', 'turing-pi-2'] as const;

export function example(name: string): BoxSpec {
  const file = new URL(`../../examples/${name}.yaml`, import.meta.url);
  return parseSpec(readFileSync(file, 'utf8'), `${name}.yaml`).box;
}

/**
 * A hand-made box for table tests: three 8/8/4 GB CM4 servers (s1 ranks first), an agent-only
 * Orin (accelerator, so tainted) and an agent-only CM4 with a CAN bus. Workloads cover every
 * kind, criticality, replica count and the singleton flag.
 */
export function labBox(opts: { apiAddress?: string; servers?: number; addresses?: string[] } = {}): BoxSpec {
  const addr = opts.addresses ?? ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'];
  const cp = [`servers: ${opts.servers ?? 3}`, ...(opts.apiAddress ? [`apiAddress: "${opts.apiAddress}"`] : [])].join(', ');
  const text = `
apiVersion: edgebox.dev/v1alpha1
kind: EdgeBox
metadata: { name: lab }
spec:
  controlPlane: { ${cp} }
  modules:
    - { name: s3, hardware: rpi-cm4-4gb, address: "${addr[2]}" }
    - { name: s1, hardware: rpi-cm4-8gb, address: "${addr[0]}" }
    - { name: s2, hardware: rpi-cm4-8gb, address: "${addr[1]}" }
    - { name: gpu-1, hardware: jetson-orin-nx-16gb, address: "${addr[3]}", roles: [agent] }
    - { name: a1, hardware: rpi-cm4-2gb, address: "${addr[4]}", roles: [agent], capabilities: [can], labels: { mode: "on" } }
  peripherals:
    - { name: bus, kind: can, attachedTo: [a1] }
    - { name: cam, kind: camera, attachedTo: [gpu-1] }
  workloads:
    - { name: crit, image: "x/crit:1", criticality: critical, requires: { cpu: 250m, memory: 128Mi } }
    - { name: std, image: "x/std:1", replicas: 3, criticality: standard, requires: { cpu: "1" } }
    - { name: be, image: "x/be:1", criticality: best-effort }
    - { name: single, image: "x/single:1", singleton: true, requires: { capabilities: [can], memory: 64Mi }, peripherals: [bus] }
    - { name: sts, image: "x/sts:1", kind: statefulset, replicas: 2 }
    - { name: sts-single, image: "x/sts:1", kind: statefulset, singleton: true }
    - { name: ds, image: "x/ds:1", kind: daemonset, replicas: 5 }
    - { name: vision, image: "x/vision:1", requires: { capabilities: [gpu.cuda, gpu.cuda] }, peripherals: [cam] }
    - { name: idle, image: "x/idle:1", replicas: 0 }
`;
  return parseSpec(text, 'lab.yaml').box;
}

/** JSON with object keys sorted, so two objects compare by content and not key order. */
export function canonical(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return JSON.stringify(sort(value));
}
