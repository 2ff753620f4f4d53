import { performance } from 'node:perf_hooks';
import { HARDWARE } from '../catalog/hardware.js';
import { planBox } from '../plan/plan-box.js';
import { moduleCapabilities } from '../spec/derive.js';
import { parseSpec } from '../spec/load.js';
import { reportTargets } from './targets.js';

/**
 * `npm run bench:plan`: plans a generated box of 32 modules and 200 workloads (all 32 single and
 * 496 pair failures) and reports wall time and peak memory against the targets of issue 2
 * (under 2 s, under 200 MB), beside a baseline measured in the same run: parsing and validating
 * the same spec, and the process's memory before planning. Exits 1 when a target is missed.
 */
const MODULES = 32;
const WORKLOADS = 200;
const TARGET_MS = 2000;
const TARGET_MB = 200;
const MB = 1024 * 1024;

/** mulberry32: a tiny seeded PRNG, so every run plans the same box. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generateSpecText(seed: number): string {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const modules = Array.from({ length: MODULES }, (_, i) => ({
    name: `m${String(i).padStart(2, '0')}`,
    hardware: HARDWARE[i % HARDWARE.length]!.id,
    address: `10.1.${Math.floor(i / 200)}.${(i % 200) + 10}`,
    // Every third module is agent-only, like motor or sensor modules.
    roles: i % 3 === 2 ? ['agent'] : ['server', 'agent'],
    capabilities: [...(random() < 0.3 ? ['can'] : []), ...(random() < 0.2 ? ['wifi'] : [])],
  }));
  const peripherals = Array.from({ length: 12 }, (_, i) => ({
    name: `p${i}`,
    kind: pick(['can', 'serial', 'usb', 'camera'] as const),
    attachedTo: [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(modules).name))],
    exclusive: i % 3 === 0,
  }));
  const workloads = Array.from({ length: WORKLOADS }, (_, i) => {
    // Requirements come from an anchor module, so the spec is valid by construction.
    const anchor = pick(modules);
    const caps = [...moduleCapabilities({ ...anchor, labels: {} } as Parameters<typeof moduleCapabilities>[0])];
    const kind = i % 40 === 0 ? 'daemonset' : i % 5 === 0 ? 'statefulset' : 'deployment';
    return {
      name: `w${String(i).padStart(3, '0')}`,
      image: `registry.example/w${i}:1`,
      kind,
      replicas: pick([1, 1, 1, 2, 2, 3]),
      requires: {
        capabilities: random() < 0.5 ? [pick(caps)] : [],
        cpu: pick(['25m', '50m', '100m', '200m']),
        memory: pick(['32Mi', '64Mi', '128Mi', '256Mi']),
      },
      peripherals:
        random() < 0.1
          ? peripherals
              .filter((p) => p.attachedTo.includes(anchor.name))
              .slice(0, 1)
              .map((p) => p.name)
          : [],
      criticality: pick(['critical', 'standard', 'standard', 'best-effort'] as const),
    };
  });
  return JSON.stringify({
    apiVersion: 'edgebox.dev/v1alpha1',
    kind: 'EdgeBox',
    metadata: { name: 'bench-box' },
    spec: { controlPlane: { servers: 5 }, modules, peripherals, workloads },
  });
}

const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
const ms = (t: number) => `${t.toFixed(1)} ms`;

const text = generateSpecText(2);
const t0 = performance.now();
const { box } = parseSpec(text, 'bench-box.json');
const parseMs = performance.now() - t0;
const rssBefore = process.memoryUsage().rss;
const maxRssBefore = process.resourceUsage().maxRSS * 1024;

const t1 = performance.now();
const plan = planBox(box);
const planMs = performance.now() - t1;
const heapAfter = process.memoryUsage().heapUsed;
// maxRSS is the process's high-water mark, in kilobytes.
const peakRss = process.resourceUsage().maxRSS * 1024;

// Warm runs show the steady cost once the JIT has compiled the planner.
const warm: number[] = [];
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  planBox(box);
  warm.push(performance.now() - t);
}

const singles = plan.scenarios.filter((s) => s.failed.length === 1).length;
const pairs = plan.scenarios.length - singles;
const placedReplicas = Object.values(plan.placements).reduce((n, r) => n + r.length, 0);
const lines = [
  `edgebox plan benchmark: ${box.spec.modules.length} modules, ${box.spec.workloads.length} workloads (${placedReplicas} pods placed, ${plan.unplaced.length} workloads short), ${singles} + ${pairs} scenarios, ${plan.findings.length} findings`,
  '  simulated: nothing runs; a generated spec (seed 2) is planned in this process',
  `  baseline  parse + validate the spec   ${ms(parseMs)}`,
  `            RSS before planning         ${mb(rssBefore)} (high-water ${mb(maxRssBefore)})`,
  `  planBox   wall time (first run)       ${ms(planMs)}  = ${(planMs / parseMs).toFixed(1)}x parse + validate`,
  `            wall time (warm, best of 3) ${ms(Math.min(...warm))}`,
  `            peak RSS (high-water)       ${mb(peakRss)}  = ${(peakRss / rssBefore).toFixed(2)}x RSS before planning (+${mb(peakRss - rssBefore)})`,
  `            heap used after planning    ${mb(heapAfter)}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
reportTargets([
  { name: 'planBox wall time (first run)', measured: planMs, bound: TARGET_MS, unit: 'ms', comparison: '<' },
  { name: 'peak RSS while planning', measured: peakRss / MB, bound: TARGET_MB, unit: 'MB', comparison: '<' },
]);
