import { Counter, Histogram, type Registry } from 'prom-client';

/** The guardian's Prometheus metrics, in the controller's registry. */
export class GuardianMetrics {
  readonly changes: Counter<'type'>;
  readonly restoreSeconds: Histogram;

  constructor(registry: Registry) {
    this.changes = new Counter({
      name: 'edgebox_control_plane_changes_total',
      help: 'Control-plane membership changes the guardian completed, by type (promote, remove, demote, reset, cancel).',
      labelNames: ['type'] as const,
      registers: [registry],
    });
    this.restoreSeconds = new Histogram({
      name: 'edgebox_control_plane_restore_seconds',
      help: 'Seconds from when the guardian first saw fewer healthy voters than spec.controlPlane.servers to when all were healthy again.',
      // The target is under 30 s for one server lost, under 60 s for a majority; stock K3s: never without a person.
      buckets: [5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600],
      registers: [registry],
    });
  }
}
