import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LABELS } from '../../contract/labels.js';
import { ApiClient, apiError } from '../api/client.js';
import type { ApiTarget } from '../api/kubeconfig.js';
import type { RuntimeDriver } from './runtime.js';

/**
 * Self-fencing in a local box. KWOK runs no containers, so there is nothing to stop: the driver
 * appends what it would stop to a JSON-lines file (`<box dir>/modules/<module>/runtime.jsonl`),
 * one `{at, module, action: "stop"|"resume", pods}` per line, so tests can check that the module
 * acted before its replacement started. The file is also the state an agent restarted while
 * fenced reads back.
 */

export interface RuntimeRecord {
  /** RFC 3339 with milliseconds. */
  at: string;
  module: string;
  action: 'stop' | 'resume';
  /** `namespace/name` of the singleton pods stopped. */
  pods: string[];
  /** Why the pods could not be listed; the fence holds regardless. */
  error?: string;
}

export interface LocalRuntimeOptions {
  file: string;
  module: string;
  /**
   * The module's singleton pods, as its simulated runtime knows them: the pods bound to its node
   * in the API, read over the host's own connection (in a real box the CRI answers locally,
   * whatever the network does).
   */
  listPods: () => Promise<string[]>;
  wallNow?: () => number;
}

export function localRuntime(o: LocalRuntimeOptions): RuntimeDriver {
  const wall = o.wallNow ?? Date.now;
  const record = async (r: Omit<RuntimeRecord, 'at' | 'module'>) => {
    await mkdir(dirname(o.file), { recursive: true });
    await appendFile(o.file, `${JSON.stringify({ at: new Date(wall()).toISOString(), module: o.module, ...r })}\n`);
  };
  return {
    name: 'local',
    async isFenced() {
      const lines = (await readFile(o.file, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
      const last = lines.at(-1);
      return last !== undefined && (JSON.parse(last) as RuntimeRecord).action === 'stop';
    },
    async fence() {
      let pods: string[] = [];
      let error: string | undefined;
      try {
        pods = await o.listPods();
      } catch (e) {
        error = (e as Error).message;
      }
      await record({ action: 'stop', pods, ...(error ? { error } : {}) });
      return pods;
    },
    // Nothing restarts a simulated pod behind the agent's back.
    keepFenced: async () => [],
    async lift() {
      await record({ action: 'resume', pods: [] });
    },
  };
}

/** The records of a runtime file, oldest first (tests and `local status` read it). */
export async function readRuntimeRecords(file: string): Promise<RuntimeRecord[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RuntimeRecord);
}

/**
 * The singleton pods bound to a module's node, read from the API over the host's own Unix socket
 * to the box's API address (`socketPath`; no network fault of the local box touches it, while
 * the agent's own connections are cut with the rest of its module): what the simulated module's
 * container runtime would list.
 */
export function apiSingletonLister(api: ApiTarget, node: string, socketPath: string | undefined): () => Promise<string[]> {
  return async () => {
    const client = new ApiClient(api, socketPath ? { socketPath } : {});
    try {
      const query = `labelSelector=${encodeURIComponent(`${LABELS.singleton}=true`)}&fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`;
      const res = await client.request('GET', `/api/v1/pods?${query}`);
      if (res.status !== 200) throw apiError(res, `listing the singleton pods of node ${node}`, client.server);
      const items = (res.body as { items?: { metadata?: { name?: string; namespace?: string } }[] }).items ?? [];
      return items.map((p) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`).sort();
    } finally {
      client.close();
    }
  };
}
