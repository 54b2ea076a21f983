/**
 * Reading replicas for a pass: what each holds, as summaries (core/summary) streamed group by
 * group, and when it started (`/api/v1/status`: a new start_time is a restart, which makes the
 * replica suspect). A shard's replicas are read together; a copy's source is read again, for the
 * groups to copy alone, when the copy is made.
 */
import type { Backend } from '../backends/client.js';
import type { ApiGroup } from '../core/exposition.js';
import { groupingKeyOf, type ReplicaView } from '../core/repair.js';
import { summarizeGroup, withPushTime, type GroupSummary } from '../core/summary.js';
import type { SuspectStore } from './suspects.js';
import type { Written } from './written.js';

/** The push time a copy read stands for (reconcile/written: a copy this reconciler wrote looks newer). */
export type PushTimeOf = Written['pushTimeOf'];

export interface ReplicaRead {
  readonly startTime: string;
  readonly groups: Map<string, GroupSummary>;
}

/** Shown every group a replica holds as it is read (the judge's drift check). */
export type GroupObserver = (backend: Backend, group: ApiGroup) => void;

/** Reads one replica; rejects when it cannot be read. `pushTimeOf` absent: push times as read. */
export async function readReplica(backend: Backend, pushTimeOf?: PushTimeOf, observe?: GroupObserver): Promise<ReplicaRead> {
  const [startTime, groups] = await Promise.all([readStartTime(backend), summarizeReplica(backend, pushTimeOf, observe)]);
  return { startTime, groups };
}

async function readStartTime(backend: Backend): Promise<string> {
  const status = await backend.call('GET', '/api/v1/status');
  if (status.status !== 200) throw new Error(`GET /api/v1/status answered ${status.status}`);
  return (JSON.parse(status.body) as { data: { start_time: string } }).data.start_time;
}

async function summarizeReplica(backend: Backend, pushTimeOf: PushTimeOf | undefined, observe: GroupObserver | undefined): Promise<Map<string, GroupSummary>> {
  const groups = new Map<string, GroupSummary>();
  for await (const group of backend.streamGroups()) {
    observe?.(backend, group);
    const summary = summarizeGroup(group);
    const pushTime = pushTimeOf?.(backend.id, summary.canonical, summary.content, summary.pushTime) ?? summary.pushTime;
    groups.set(summary.canonical, pushTime === summary.pushTime ? summary : withPushTime(summary, pushTime));
  }
  return groups;
}

/**
 * The groups `wanted` as the replica holds them now (for copies), each as its JSON text: a
 * replica refilled from its twin needs all of them, and a group of many series takes less room
 * as text than parsed.
 */
export async function readGroups(backend: Backend, wanted: ReadonlySet<string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const group of backend.streamGroups()) {
    const { canonical } = groupingKeyOf(group);
    if (wanted.has(canonical)) out.set(canonical, JSON.stringify(group));
  }
  return out;
}

export interface ShardRead {
  /** The replicas read, in id order. */
  readonly views: ReplicaView[];
  readonly byId: Map<string, Backend>;
  readonly unreachable: string[];
}

export interface ShardReader {
  /** Reads every replica of a shard; a restart (a new start_time) marks the replica suspect, unless `dryRun`. */
  read(backends: readonly Backend[], dryRun?: boolean): Promise<ShardRead>;
}

export function createShardReader(options: {
  suspects: SuspectStore;
  written: Written;
  restarted?: (replica: string) => void;
  /** Every group read, and every replica that could not be read. */
  observer?: { readonly see: GroupObserver; unread(backend: Backend): void };
}): ShardReader {
  const { suspects, written } = options;
  // Per replica of the configuration: bounded by the ring's size.
  const startTimes = new Map<string, string>();
  return {
    async read(backends, dryRun = false) {
      const views: ReplicaView[] = [];
      const byId = new Map<string, Backend>();
      const unreachable: string[] = [];
      await Promise.all(
        backends.map(async (backend) => {
          const { id } = backend;
          const observer = dryRun ? undefined : options.observer;
          const read = await readReplica(backend, written.pushTimeOf, observer?.see).catch(() => undefined);
          if (read === undefined) {
            observer?.unread(backend);
            unreachable.push(id);
            return;
          }
          const previous = startTimes.get(id);
          if (previous !== undefined && previous !== read.startTime) {
            // Restarted: whatever it holds now, it missed what came while it was gone.
            if (!dryRun) suspects.mark(id, Date.now());
            options.restarted?.(id);
          }
          startTimes.set(id, read.startTime);
          views.push({ id, groups: read.groups, suspectSince: suspects.since(id) });
          byId.set(id, backend);
        }),
      );
      views.sort((a, b) => (a.id < b.id ? -1 : 1));
      return { views, byId, unreachable };
    },
  };
}
