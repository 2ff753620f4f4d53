import type { KubeConfig } from '@kubernetes/client-node';
import type { Log } from '../../base/log.js';
import type { PeripheralTimings } from '../../contract/peripherals.js';
import type { EventRecorder } from '../events.js';
import type { ControllerMetrics } from '../metrics.js';
import { PeripheralExecutor } from './executor.js';
import { PeripheralMetrics } from './metrics.js';
import { planPeripherals, type PeripheralAction, type PeripheralObserved } from './plan.js';
import { peripheralStatuses } from './status.js';
import type { PeripheralStatus } from '../../contract/edgebox-status.js';

/**
 * One pass of the peripheral reconciler, run by the controller's leader after the self-healing
 * decisions of the same pass (they share the informers' snapshot): plan, then execute in the
 * plan's order, each action only while still leading.
 */
export class PeripheralReconciler {
  private readonly executor: PeripheralExecutor;
  private readonly metrics: PeripheralMetrics;

  constructor(
    private readonly o: {
      kc: KubeConfig;
      box: string;
      log: Log;
      events: EventRecorder;
      metrics: ControllerMetrics;
      timings: PeripheralTimings;
      now: () => number;
      /** The monotonic clock the observed Leases' ages are on. */
      mono: () => number;
    },
  ) {
    this.metrics = new PeripheralMetrics(o.metrics.registry);
    this.executor = new PeripheralExecutor({ ...o, metrics: this.metrics });
  }

  get timings(): PeripheralTimings {
    return this.o.timings;
  }

  async pass(observed: PeripheralObserved, leading: () => boolean): Promise<{ acted: boolean; status: PeripheralStatus[] }> {
    const actions = planPeripherals(observed);
    let acted = false;
    for (const a of actions) {
      if (!leading()) break;
      acted = (await this.act(a)) || acted;
    }
    const status = peripheralStatuses(observed.box, observed.leases, observed.mono);
    for (const p of status) if (p.exclusive) this.metrics.owned.set({ peripheral: p.name }, p.phase === 'Owned' ? 1 : 0);
    return { acted, status };
  }

  private async act(a: PeripheralAction): Promise<boolean> {
    try {
      return await this.executor.execute(a);
    } catch (e) {
      this.o.log('error', 'peripheral action failed; it is planned again on the next pass', {
        action: a.type,
        peripheral: a.peripheral,
        error: (e as Error).message,
      });
      return false;
    }
  }
}
