import { findHardware } from '../../catalog/hardware.js';
import { decodeRpiRevision, RPI_TYPE, type CpuInfo } from './procfs.js';
import type { Note } from './types.js';

const GiB = 1024 ** 3;

export interface BoardFacts {
  model: string | null;
  compatible: string[];
  cpu: CpuInfo | null;
  memoryBytes: number | null;
}

export interface Identification {
  hardware: string | null;
  notes: Note[];
}

/**
 * Jetson module SKUs by the P-number in the device-tree `compatible` (`nvidia,p3509-0000+p3668-0001`
 * names carrier + module; the module SKU fixes the memory size). `null`: a real module the
 * catalog does not list. Source: the module tables of the Jetson Linux developer guide.
 */
const JETSON_SKUS: Record<string, { id: string | null; name: string }> = {
  'p3448-0000': { id: 'jetson-nano-4gb', name: 'Jetson Nano 4GB (developer kit module)' },
  'p3448-0002': { id: 'jetson-nano-4gb', name: 'Jetson Nano 4GB (eMMC)' },
  'p3448-0003': { id: null, name: 'Jetson Nano 2GB' },
  'p3668-0000': { id: 'jetson-xavier-nx-8gb', name: 'Jetson Xavier NX 8GB (developer kit module)' },
  'p3668-0001': { id: 'jetson-xavier-nx-8gb', name: 'Jetson Xavier NX 8GB (eMMC)' },
  'p3668-0003': { id: 'jetson-xavier-nx-16gb', name: 'Jetson Xavier NX 16GB' },
  'p3767-0000': { id: 'jetson-orin-nx-16gb', name: 'Jetson Orin NX 16GB' },
  'p3767-0001': { id: null, name: 'Jetson Orin NX 8GB' },
  'p3767-0003': { id: 'jetson-orin-nano-8gb', name: 'Jetson Orin Nano 8GB' },
  'p3767-0004': { id: null, name: 'Jetson Orin Nano 4GB' },
  'p3767-0005': { id: 'jetson-orin-nano-8gb', name: 'Jetson Orin Nano 8GB (developer kit module)' },
};

/** Families told apart by memory size alone, with the sizes (GiB) they come in. */
interface SizedFamily {
  name: string;
  sizes: number[];
  id: (gib: number) => string;
}

const CM4: SizedFamily = { name: 'Raspberry Pi Compute Module 4', sizes: [1, 2, 4, 8], id: (g) => `rpi-cm4-${g}gb` };
const CM5: SizedFamily = { name: 'Raspberry Pi Compute Module 5', sizes: [2, 4, 8, 16], id: (g) => `rpi-cm5-${g}gb` };
const RK1: SizedFamily = { name: 'Turing RK1', sizes: [8, 16, 32], id: (g) => `turing-rk1-${g}gb` };
const XAVIER_NX: SizedFamily = { name: 'Jetson Xavier NX', sizes: [8, 16], id: (g) => `jetson-xavier-nx-${g}gb` };
const ORIN_NX: SizedFamily = { name: 'Jetson Orin NX', sizes: [8, 16], id: (g) => `jetson-orin-nx-${g}gb` };
const ORIN_NANO: SizedFamily = { name: 'Jetson Orin Nano', sizes: [4, 8], id: (g) => `jetson-orin-nano-${g}gb` };
const NANO: SizedFamily = { name: 'Jetson Nano', sizes: [2, 4], id: (g) => `jetson-nano-${g}gb` };

/** Model-string patterns for when `compatible` is missing; most specific first. */
const MODEL_FAMILIES: [RegExp, SizedFamily][] = [
  [/^Raspberry Pi Compute Module 4 Rev/, CM4],
  [/^Raspberry Pi Compute Module 5 /, CM5],
  [/^Turing Machines RK1/, RK1],
  [/Jetson Xavier NX/, XAVIER_NX],
  [/Orin NX/, ORIN_NX],
  [/Orin Nano/, ORIN_NANO],
  [/Jetson Nano/, NANO],
];

/**
 * The nominal size (GiB) of a module whose kernel sees `bytes`: MemTotal is a little under the
 * nominal size (firmware carve-outs, the GPU's share, the kernel itself), so the smallest size
 * at or above it, if MemTotal is at least three quarters of it.
 */
export function nominalGiB(bytes: number, sizes: readonly number[]): number | undefined {
  const size = [...sizes].sort((a, b) => a - b).find((s) => bytes <= s * GiB);
  return size !== undefined && bytes >= 0.75 * size * GiB ? size : undefined;
}

/**
 * Which catalog hardware a module is, from its device tree (compatible first, as it is the
 * machine-readable identity; the model string is free text a vendor may change), then the
 * Raspberry Pi revision code, then the CPU architecture for x86 boards without a device tree.
 */
export function identify(f: BoardFacts): Identification {
  const notes: Note[] = [];
  const described = `model '${f.model ?? '(none)'}', compatible '${f.compatible.join(', ') || '(none)'}'`;
  const unknown = (message: string): Identification => ({
    hardware: null,
    notes: [...notes, { code: 'discovery.unknown-hardware', message }],
  });

  const sku = /\b(p3448|p3668|p3767)-(\d{4})/.exec(f.compatible.join(' '));
  if (sku) {
    const entry = JETSON_SKUS[`${sku[1]}-${sku[2]}`];
    if (!entry) return unknown(`Jetson module ${sku[1]}-${sku[2]} is not a SKU edgebox knows (${described})`);
    if (!entry.id) return unknown(`${entry.name} is not in the hardware catalog; add it to a catalog of your own`);
    return { hardware: entry.id, notes };
  }

  const revision = f.cpu?.revision !== undefined ? decodeRpiRevision(f.cpu.revision) : undefined;
  const sized = (family: SizedFamily, memoryBytes: number | null | undefined, how: string): Identification => {
    const gib = memoryBytes ? nominalGiB(memoryBytes, family.sizes) : undefined;
    if (gib === undefined) {
      return unknown(
        `a ${family.name} (${how}), but its memory size is unknown: MemTotal ${memoryBytes ? `${(memoryBytes / GiB).toFixed(2)} GiB fits none of ${family.sizes.join('/')} GB` : 'could not be read'}`,
      );
    }
    const id = family.id(gib);
    if (!findHardware(id)) return unknown(`${family.name} ${gib}GB is not in the hardware catalog; add it to a catalog of your own`);
    return { hardware: id, notes };
  };
  // The revision code states the memory exactly; MemTotal is the fallback.
  const rpiMemory = revision?.memoryBytes ?? f.memoryBytes;
  if (f.compatible.includes('raspberrypi,4-compute-module') || revision?.type === RPI_TYPE.cm4) {
    return sized(CM4, rpiMemory, 'compatible or revision code');
  }
  if (f.compatible.includes('raspberrypi,5-compute-module') || revision?.type === RPI_TYPE.cm5) {
    return sized(CM5, rpiMemory, 'compatible or revision code');
  }
  if (f.compatible.includes('turing,rk1')) return sized(RK1, f.memoryBytes, 'compatible turing,rk1');

  if (f.model && f.compatible.length === 0) {
    const family = MODEL_FAMILIES.find(([re]) => re.test(f.model!))?.[1];
    if (family) {
      notes.push({
        code: 'discovery.matched-by-model',
        message: `identified from the device-tree model '${f.model}' only: /proc/device-tree/compatible is missing, so the size variant comes from MemTotal`,
      });
      return sized(family, family === CM4 || family === CM5 ? rpiMemory : f.memoryBytes, 'model string');
    }
  }

  if (!f.model && f.compatible.length === 0 && f.cpu?.arch === 'amd64') {
    notes.push({
      code: 'discovery.generic-hardware',
      message: 'an x86-64 machine without a device tree: generic-x86-64, whose catalog figures are nominal (see resources for what this one has)',
    });
    return { hardware: 'generic-x86-64', notes };
  }
  return unknown(`no catalog hardware matches ${described}, arch ${f.cpu?.arch ?? 'unknown'}`);
}
