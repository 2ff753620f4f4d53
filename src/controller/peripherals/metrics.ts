import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRICS } from '../../contract/metrics.js';

/** The peripheral reconciler's metrics, in the controller's registry (served on its /metrics). */
export class PeripheralMetrics {
  readonly handovers: Counter<'peripheral' | 'because'>;
  readonly handoverSeconds: Histogram<'peripheral'>;
  readonly token: Gauge<'peripheral'>;
  readonly owned: Gauge<'peripheral'>;

  constructor(registry: Registry) {
    this.handovers = new Counter({
      name: 'edgebox_peripheral_handovers_total',
      help: 'Ownership handovers of exclusive peripherals, by what made them safe (released, powered-off, fenced-and-expired, expired, no-holder).',
      labelNames: ['peripheral', 'because'] as const,
      registers: [registry],
    });
    this.handoverSeconds = new Histogram({
      name: 'edgebox_peripheral_handover_seconds',
      help: "Seconds from when a handover became safe (fencing or expiry) to the next owner's assignment.",
      labelNames: ['peripheral'] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30],
      registers: [registry],
    });
    this.token = new Gauge({
      name: 'edgebox_peripheral_token',
      help: 'The current fencing token of each exclusive peripheral.',
      labelNames: ['peripheral'] as const,
      registers: [registry],
    });
    this.owned = new Gauge({
      name: METRICS.peripheralOwned,
      help: 'Per exclusive peripheral, 1 while a module owns it and renews its Lease (phase Owned), else 0 (the alert on a peripheral without owner).',
      labelNames: ['peripheral'] as const,
      registers: [registry],
    });
  }
}
