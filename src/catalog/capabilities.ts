/**
 * The capability vocabulary: what a module can do that a workload may require. Kept short on
 * purpose; each entry becomes the node label `edgebox.dev/cap.<name>=true`.
 * The catalog gives each module what the module itself has; a spec's `capabilities` adds what
 * the carrier board wires up (a CAN transceiver, a camera connector, a Wi-Fi card).
 */
export const CAPABILITIES = {
  gpu: 'a GPU that workloads can use for compute (CUDA, OpenCL or Vulkan)',
  'gpu.cuda': 'an NVIDIA GPU with CUDA (Jetson modules, x86 boards with an NVIDIA card)',
  dla: 'an NVIDIA Deep Learning Accelerator (NVDLA) beside the GPU',
  npu: 'a neural processing unit (e.g. the RK3588 NPU, 6 TOPS)',
  can: 'a CAN bus controller reachable by the module (a transceiver on the carrier is still needed)',
  'camera.csi': 'a MIPI CSI-2 camera interface',
  'camera.usb': 'a USB (UVC) camera',
  serial: 'a UART/serial line (ttyTHS*, ttyAMA*, ttyUSB*)',
  gpio: 'GPIO lines (gpiochip)',
  i2c: 'an I2C bus',
  spi: 'an SPI bus',
  nvme: 'NVMe storage over PCIe',
  pcie: 'a PCIe lane available to the carrier',
  wifi: 'a Wi-Fi interface',
  usb: 'a USB host port',
} as const satisfies Record<string, string>;

export type Capability = keyof typeof CAPABILITIES;

export const CAPABILITY_NAMES = Object.keys(CAPABILITIES) as Capability[];

export function isCapability(name: string): name is Capability {
  return Object.hasOwn(CAPABILITIES, name);
}
