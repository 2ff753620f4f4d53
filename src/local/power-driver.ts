import { readState } from './box-state.js';
import { killModule } from './failure-injection.js';
import type { PowerDriver, PowerState } from '../power/driver.js';

/**
 * The `local` driver: in a local box, powering a module off is what `edgebox local kill` does
 * (its node stops heartbeating, its agent dies at once); the box state file says which modules
 * are off. The slot means nothing here.
 */
export class LocalPowerDriver implements PowerDriver {
  constructor(private readonly dir: string) {}

  async powerOff(module: string): Promise<void> {
    await killModule(this.dir, module);
  }

  async state(module: string): Promise<PowerState> {
    const state = await readState(this.dir);
    if (!state) return 'unknown';
    return state.killed.includes(module) ? 'off' : 'on';
  }
}
