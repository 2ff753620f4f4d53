import { posix } from 'node:path';
import type { Capability } from '../../catalog/capabilities.js';
import type { HostFs } from './host-fs.js';
import type { DiscoveredAccelerator, Note } from './types.js';
import { PREFIX } from '../../contract/labels.js';

/** What the device readers found: capabilities with their evidence, counted devices, notes. */
export interface DeviceFacts {
  evidence: Map<Capability, string[]>;
  extended: Record<string, number>;
  accelerator: DiscoveredAccelerator | null;
  notes: Note[];
}

/** Extended resources edgebox advertises for counted devices it finds. */
const RESOURCES = {
  nvidiaGpu: 'nvidia.com/gpu',
  npu: `${PREFIX}/npu`,
  dla: `${PREFIX}/dla`,
  can: `${PREFIX}/can`,
} as const;

/** ARPHRD_CAN in include/uapi/linux/if_arp.h: `/sys/class/net/<if>/type` of a CAN interface. */
const ARPHRD_CAN = 280;

/**
 * The Tegra GPU's device nodes: `nvhost-ctrl-gpu` up to Jetson Linux 35, `nvgpu/igpu0/ctrl` from
 * 36 (JetPack 6). Either is what a CUDA container needs mapped.
 */
const TEGRA_GPU_NODES = ['dev/nvhost-ctrl-gpu', 'dev/nvgpu/igpu0/ctrl'];
/** The Tegra GPU in sysfs: its devfreq node by SoC (gm20b Nano, gv11b Xavier, ga10b Orin). */
const TEGRA_GPU_DEVFREQ = new Set(['57000000.gpu', '17000000.gv11b', '17000000.ga10b', '17000000.gpu']);
/** DRM drivers of GPUs with a compute API (OpenCL/Vulkan) on the boards edgebox targets. */
const COMPUTE_DRM_DRIVERS = new Set(['panthor', 'panfrost', 'amdgpu', 'i915', 'xe']);
/** The RK3588 NPU's platform device (npu@fdab0000 in rk3588.dtsi). */
const RK3588_NPU = 'fdab0000.npu';
/** Drivers that serve it: Rockchip's vendor `RKNPU`, mainline's `rocket` (accel subsystem). */
const NPU_DRIVERS = new Set(['RKNPU', 'rknpu', 'rocket']);
/**
 * V4L2 capture drivers of MIPI CSI-2 receivers: Raspberry Pi 4/CM4 `unicam`, Pi 5/CM5 `rp1-cfe`,
 * Rockchip `rkcif`, Jetson `tegra-camrtc-capture-vi`. Codecs and ISPs (bcm2835-codec, pispbe,
 * hantro) also register /dev/video* and are no cameras.
 */
const CSI_DRIVERS = new Set(['unicam', 'rp1-cfe', 'rkcif', 'tegra-camrtc-capture-vi']);
/** Tegra VI channels are named `vi-output, <sensor> <bus>-<addr>` whatever the kernel version. */
const TEGRA_VI_NAME = /^vi-output\b/;
/** Virtual CAN (vcan, vxcan) has the CAN type too, and no bus behind it. */
const VIRTUAL_CAN = /^v(x)?can/;

const basename = (p: string | undefined) => (p === undefined ? undefined : posix.basename(p));
const numbered = (names: string[], re: RegExp) => names.filter((n) => re.test(n));

export async function readDevices(fs: HostFs, opts: { l4t: boolean }): Promise<DeviceFacts> {
  const facts: DeviceFacts = { evidence: new Map(), extended: {}, accelerator: null, notes: [] };
  const add = (c: Capability, ...paths: string[]) => facts.evidence.set(c, [...(facts.evidence.get(c) ?? []), ...paths]);
  const note = (code: string, message: string) => facts.notes.push({ code, message });
  const dev = await fs.readdir('dev');
  const devfreq = await fs.readdir('sys/class/devfreq');

  // Tegra GPU. No NVML on Tegra (NVIDIA/k8s-device-plugin#984), so the device node is the proof.
  const tegraNodes = (await Promise.all(TEGRA_GPU_NODES.map(async (p) => ((await fs.exists(p)) ? p : undefined)))).filter((p): p is string => !!p);
  const tegraSysfs = devfreq.filter((n) => TEGRA_GPU_DEVFREQ.has(n));
  if (tegraNodes.length) {
    add('gpu', ...tegraNodes.map((p) => `/${p}`));
    // CUDA on Tegra comes with Jetson Linux (its libcuda talks to nvgpu); without the L4T
    // release file this is some other distribution, whose CUDA support nobody vouches for.
    if (opts.l4t) add('gpu.cuda', '/etc/nv_tegra_release');
    else note('discovery.no-l4t', 'a Tegra GPU without /etc/nv_tegra_release: not Jetson Linux, so CUDA is not assumed (gpu.cuda left out)');
    const soc = tegraSysfs[0]?.split('.')[1];
    facts.accelerator = { kind: 'gpu', name: `Tegra GPU${soc && soc !== 'gpu' ? ` (${soc})` : ''}`, resource: RESOURCES.nvidiaGpu, count: 1 };
    facts.extended[RESOURCES.nvidiaGpu] = 1;
  } else if (tegraSysfs.length) {
    note(
      'discovery.gpu-without-device',
      `the Tegra GPU is in sysfs (/sys/class/devfreq/${tegraSysfs[0]}) but neither ${TEGRA_GPU_NODES.map((p) => `/${p}`).join(' nor ')} exists: is the nvgpu driver loaded, or /dev not mounted into the agent?`,
    );
  }

  // Discrete NVIDIA GPUs (an x86 board with a card): /dev/nvidia0..N, made by the NVIDIA driver.
  const nvidia = numbered(dev, /^nvidia\d+$/);
  if (nvidia.length) {
    add('gpu', ...nvidia.map((n) => `/dev/${n}`));
    add('gpu.cuda', ...nvidia.map((n) => `/dev/${n}`));
    facts.accelerator ??= { kind: 'gpu', name: 'NVIDIA GPU', resource: RESOURCES.nvidiaGpu, count: nvidia.length };
    facts.extended[RESOURCES.nvidiaGpu] = (facts.extended[RESOURCES.nvidiaGpu] ?? 0) + nvidia.length;
  }

  // Other compute GPUs: Mali through the vendor kbase driver (/dev/mali0) or a DRM render node.
  if (dev.includes('mali0')) add('gpu', '/dev/mali0');
  for (const card of numbered(await fs.readdir('sys/class/drm'), /^renderD\d+$/)) {
    const driver = basename(await fs.readlink(`sys/class/drm/${card}/device/driver`));
    if (driver && COMPUTE_DRM_DRIVERS.has(driver)) add('gpu', `/dev/dri/${card} (${driver})`);
  }

  // NVDLA engines: nvhost-nvdla<N> up to Jetson Linux 35, nvhost-ctrl-nvdla<N> from 36.
  const dlaNodes = numbered(dev, /^nvhost-(ctrl-)?nvdla\d+$/);
  if (dlaNodes.length) {
    add('dla', ...dlaNodes.map((n) => `/dev/${n}`));
    // One engine per index, whichever of its nodes exist.
    facts.extended[RESOURCES.dla] = new Set(dlaNodes.map((n) => n.replace(/^\D+/, ''))).size;
  }

  // RK3588 NPU: the driver bound to its platform device, or the devfreq node the driver registers.
  // (debugfs's rknpu/version is root-only, so it is no evidence an agent can rely on.)
  const npuDriver = basename(await fs.readlink(`sys/devices/platform/${RK3588_NPU}/driver`));
  const npuEvidence = [
    ...(npuDriver && NPU_DRIVERS.has(npuDriver) ? [`/sys/devices/platform/${RK3588_NPU}/driver (${npuDriver})`] : []),
    ...(devfreq.includes(RK3588_NPU) ? [`/sys/class/devfreq/${RK3588_NPU}`] : []),
    ...(dev.includes('rknpu') ? ['/dev/rknpu'] : []),
  ];
  if (npuEvidence.length) {
    add('npu', ...npuEvidence);
    facts.accelerator ??= { kind: 'npu', name: 'RK3588 NPU', resource: RESOURCES.npu, count: 1 };
    facts.extended[RESOURCES.npu] = 1;
  } else if ((await fs.readFile('proc/device-tree/npu@fdab0000/status'))?.startsWith('okay')) {
    note(
      'discovery.npu-without-driver',
      'the device tree enables the RK3588 NPU (npu@fdab0000) but no driver is bound: load rknpu (vendor kernel) or rocket (mainline)',
    );
  }

  // Network interfaces: CAN by type, Wi-Fi by its sysfs directories.
  const can: string[] = [];
  for (const iface of await fs.readdir('sys/class/net')) {
    const type = await fs.readFile(`sys/class/net/${iface}/type`);
    if (type === undefined) {
      note('discovery.unreadable', `/sys/class/net/${iface}/type is missing or unreadable: interface ${iface} is left out`);
      continue;
    }
    if (Number(type.trim()) === ARPHRD_CAN && !VIRTUAL_CAN.test(iface)) can.push(iface);
    if ((await fs.exists(`sys/class/net/${iface}/wireless`)) || (await fs.exists(`sys/class/net/${iface}/phy80211`))) {
      add('wifi', `/sys/class/net/${iface}`);
    }
  }
  if (can.length) {
    add('can', ...can.map((i) => `/sys/class/net/${i} (type ${ARPHRD_CAN})`));
    facts.extended[RESOURCES.can] = can.length;
  } else if ((await fs.readdir('proc/device-tree')).some((n) => n.startsWith('mttcan@'))) {
    note(
      'discovery.can-not-loaded',
      'the device tree has Tegra CAN controllers (mttcan) but no CAN interface exists: run `modprobe mttcan` (and load it at boot)',
    );
  }

  // Cameras: each /dev/videoN by the name and driver sysfs gives it.
  for (const video of numbered(dev, /^video\d+$/)) {
    const base = `sys/class/video4linux/${video}`;
    const name = (await fs.readFile(`${base}/name`))?.trim();
    const driver = basename(await fs.readlink(`${base}/device/driver`));
    if (name === undefined && driver === undefined) {
      note('discovery.unreadable', `/dev/${video} has no readable /${base}/name or device/driver: it is left out`);
      continue;
    }
    const label = `/dev/${video} (${[name, driver].filter(Boolean).join(', ')})`;
    if (driver === 'uvcvideo') add('camera.usb', label);
    else if ((driver && CSI_DRIVERS.has(driver)) || (name && TEGRA_VI_NAME.test(name))) add('camera.csi', label);
  }

  // Serial lines: Tegra HS UARTs, PL011s, USB adapters, and 8250s that are real (type not 0,
  // PORT_UNKNOWN: the kernel registers placeholder ttyS ports on every x86 machine).
  const serial = numbered(dev, /^tty(THS|AMA|USB|ACM)\d+$/);
  for (const tty of numbered(dev, /^ttyS\d+$/)) {
    const type = await fs.readFile(`sys/class/tty/${tty}/type`);
    if (type !== undefined && Number(type.trim()) !== 0) serial.push(tty);
  }
  if (serial.length) add('serial', ...serial.map((t) => `/dev/${t}`));

  const i2c = numbered(dev, /^i2c-\d+$/);
  if (i2c.length) add('i2c', ...i2c.map((n) => `/dev/${n}`));
  else if ((await fs.readdir('sys/class/i2c-adapter')).length) {
    note('discovery.i2c-dev-not-loaded', 'I2C adapters exist in /sys/class/i2c-adapter but no /dev/i2c-*: run `modprobe i2c-dev` (and load it at boot)');
  }
  const gpio = numbered(dev, /^gpiochip\d+$/);
  if (gpio.length) add('gpio', ...gpio.map((n) => `/dev/${n}`));
  const spi = numbered(dev, /^spidev\d+\.\d+$/);
  if (spi.length) add('spi', ...spi.map((n) => `/dev/${n}`));

  const nvme = numbered(await fs.readdir('sys/class/nvme'), /^nvme\d+$/);
  if (nvme.length) add('nvme', ...nvme.map((n) => `/sys/class/nvme/${n}`));
  const pci = await fs.readdir('sys/bus/pci/devices');
  if (pci.length) add('pcie', `/sys/bus/pci/devices (${pci.length} functions)`);
  const usb = numbered(await fs.readdir('sys/bus/usb/devices'), /^usb\d+$/);
  if (usb.length) add('usb', ...usb.map((n) => `/sys/bus/usb/devices/${n}`));

  return facts;
}
