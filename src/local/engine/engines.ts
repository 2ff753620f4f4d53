import type { BoxState } from '../box-state.js';
import type { EngineName, LocalEngine } from './engine.js';
import { k3sEngine } from './k3s-engine.js';
import { processEngine } from './process-engine.js';

export function engineFor(name: EngineName | undefined): LocalEngine {
  return name === 'k3s' ? k3sEngine : processEngine;
}

/** A box started before engines existed ran the `process` engine. */
export function engineOf(state: Pick<BoxState, 'engine'>): LocalEngine {
  return engineFor(state.engine);
}
