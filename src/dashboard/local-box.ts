import { watch, type FSWatcher } from 'node:fs';
import { readState } from '../local/box-state.js';
import { boxFiles } from '../local/credentials.js';
import { killModule, reviveModule, type InjectionResult } from '../local/failure-injection.js';
import { failure } from '../diagnostics/diagnostic.js';
import type { WatchRecord } from './view.js';

/**
 * A local box (`edgebox local up`) the dashboard was pointed at with `--local-dir`: its kubeconfig
 * and spec, which modules are killed (state.json, watched, since `edgebox local kill` from a
 * shell changes it too), and kill/revive.
 */
export class LocalBox {
  private killedModules: string[];
  private watcher?: FSWatcher;

  private constructor(
    readonly dir: string,
    readonly spec: string,
    killed: string[],
  ) {
    this.killedModules = killed;
  }

  static async open(dir: string): Promise<LocalBox> {
    const state = await readState(dir);
    if (!state) {
      throw failure(
        'dashboard.no-local-box',
        `no local box in ${dir} (no state.json)`,
        'start one with `edgebox local up <spec>`; `edgebox local status` shows where it runs',
      );
    }
    return new LocalBox(dir, state.spec, [...state.killed]);
  }

  get kubeconfig(): string {
    return boxFiles(this.dir).kubeconfig;
  }

  killed(): readonly string[] {
    return this.killedModules;
  }

  /** Re-reads state.json whenever the box directory changes; reports when `killed` changed. */
  watch(onChange: (r: WatchRecord) => void): void {
    // One read at a time, and one more after the last change: two overlapping reads could
    // finish out of order and leave the older state shown.
    let dirty = false;
    let reading = false;
    const reread = async () => {
      reading = true;
      while (dirty) {
        dirty = false;
        const s = await readState(this.dir).catch(() => undefined);
        const killed = [...(s?.killed ?? [])];
        if (!s || JSON.stringify(killed) === JSON.stringify(this.killedModules)) continue;
        this.killedModules = killed;
        onChange({ kind: 'LocalState', type: 'update', name: 'state.json', receivedAt: Date.now() });
      }
      reading = false;
    };
    // state.json is replaced by rename, so the directory is what to watch.
    this.watcher = watch(this.dir, (_event, file) => {
      if (file !== null && file !== 'state.json') return;
      dirty = true;
      if (!reading) void reread();
    });
  }

  kill(module: string): Promise<InjectionResult> {
    return killModule(this.dir, module);
  }

  revive(module: string): Promise<InjectionResult> {
    return reviveModule(this.dir, module);
  }

  close(): void {
    this.watcher?.close();
  }
}
