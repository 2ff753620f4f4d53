import type { LocatedRecord } from '../peripherals/history.js';

/**
 * What one chaos trial records, one JSON object a line (`<out>/trial-<K>/history.jsonl`). Times
 * are the runner's wall clock in ms (one host: every recorder shares it), except inside a grant
 * record, which is the agent's own file as it wrote it, by its module's (maybe faked) clock: the
 * checker puts those on the runner's clock with the clock faults the injector recorded
 * (grant-clock.ts). The checker (check.ts) reads nothing else.
 */
export type HistoryEvent =
  /** The injector's own record: a fault put in place. `notRenewing`: modules that stop renewing their node while it holds (dead, or cut off from the API). */
  | { type: 'inject'; t: number; fault: number; kind: string; targets: string[]; notRenewing: string[]; detail?: string; clockOffsetMs?: number }
  /** The fault lifted; its modules renew again (a revived module once it is back). */
  | { type: 'heal'; t: number; fault: number }
  /** The last fault lifted: recovery is timed from here. */
  | { type: 'healed'; t: number }
  /** A write the API acknowledged, with the resourceVersion it answered. */
  | { type: 'ack'; t: number; name: string; rv: string }
  /** A write that failed or did not answer in time: its outcome is unknown, so it proves nothing. */
  | { type: 'write-failed'; t: number; name: string; error: string }
  /** The peripheral Lease as read: holder and fencing token. */
  | { type: 'lease'; t: number; peripheral: string; holder: string | null; token: number }
  /** A grant or release from an agent's grant history (what the module let its device do). */
  | { type: 'grant'; t: number; record: LocatedRecord }
  /** A node as read: fenced (a fence method set, or the out-of-service taint) and since when by the controller's annotation. */
  | { type: 'node'; t: number; node: string; ready: boolean; fenced: boolean; fencedAt?: number }
  /** A node's Lease as read: the kubelet's (KWOK's) last renewal, by its writer's clock. Evidence for a fence; the checker goes by the injector's record. */
  | { type: 'node-lease'; t: number; node: string; renewTime: number | null }
  /** One sampling round of every etcd member: what each live member answered. */
  | { type: 'etcd'; t: number; members: EtcdSample[] }
  /** The box's health as the runner judges it: every node Ready, the voters, a controller leader, every workload Ready. */
  | { type: 'health'; t: number; healthy: boolean; missing: string[] }
  /** The writes present at the end, read back after recovery: name -> resourceVersion. */
  | { type: 'final'; t: number; present: Record<string, string> };

export interface EtcdSample {
  module: string;
  clusterId: string;
  memberId: string;
  /** The leader it follows; absent when it has none (it accepts no writes). */
  leaderId?: string;
}

export const toLine = (e: HistoryEvent): string => JSON.stringify(e);

/** Parses a history file's text; a line that is not JSON is an error naming it. Pure. */
export function parseHistory(text: string): HistoryEvent[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as HistoryEvent;
      } catch {
        throw new Error(`history line ${i + 1} is not JSON: ${l.slice(0, 80)}`);
      }
    });
}
