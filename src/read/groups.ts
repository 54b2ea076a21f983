/**
 * GET /-/api/groups: the groups the page at `/` lists, each from its authoritative shard as GET
 * /api/v1/metrics shows them (reads.ts), one row each (core/group-list.ts) with its shard, the
 * first `limit` in order of job and labels. Shards are read in parallel and streamed, each kept
 * to `limit` rows; a replica failing part-way is replaced by its twin, its rows dropped. A shard
 * none of whose replicas could be read is named in `unreadShards` and `complete` is false: the
 * page says the list lacks its groups rather than show fewer as if that were all.
 */
import { jsonGroups } from '../backends/client.js';
import type { ApiGroup } from '../core/exposition.js';
import { compileGlob } from '../core/glob.js';
import { FirstInOrder, compareRows, rowOf, type GroupQuery, type GroupRow } from '../core/group-list.js';
import type { ReadGate } from './gate.js';
import { firstAnswering, viewOf, type ReadDeps } from './reads.js';

export interface GroupList {
  /** When the list was read (ms since the epoch): the page's ages are against it. */
  readonly now: number;
  readonly groups: readonly GroupRow[];
  /** Groups of the jobs asked for, the listed ones included. */
  readonly matched: number;
  /** Every shard's groups were read. */
  readonly complete: boolean;
  readonly unreadShards: readonly { readonly shard: string; readonly reason: string }[];
}

export async function listGroups(deps: ReadDeps, query: GroupQuery): Promise<GroupList> {
  const glob = compileGlob(query.job);
  const view = viewOf(deps.cluster, deps.progress?.());
  const unread: { shard: string; reason: string }[] = [];
  const perShard = await Promise.all(
    view.shards.map((shard) =>
      firstAnswering(deps, shard, async (backend) => {
        const rows = new FirstInOrder<GroupRow>(query.limit, compareRows);
        const stream = await backend.stream('/api/v1/metrics');
        try {
          for await (const text of jsonGroups(stream)) {
            const group = JSON.parse(text) as ApiGroup;
            if (glob.test(group.labels['job'] ?? '') && view.shows(shard.name, group.labels)) rows.offer(rowOf(group, shard.name));
          }
        } finally {
          stream.close();
        }
        return rows;
      }).catch((err: Error) => {
        unread.push({ shard: shard.name, reason: err.message });
        return undefined;
      }),
    ),
  );
  const rows = new FirstInOrder<GroupRow>(query.limit, compareRows);
  let matched = 0;
  for (const shard of perShard) {
    if (shard === undefined) continue;
    matched += shard.offered;
    for (const row of shard.list) rows.offer(row);
  }
  unread.sort((a, b) => (a.shard < b.shard ? -1 : 1));
  return { now: Date.now(), groups: rows.list, matched, complete: unread.length === 0, unreadShards: unread };
}

/** How long a list read is served again to the same query: every open page asks every 10 s. */
export const GROUP_LIST_FRESH_MS = 5_000;
/** Queries whose last list is kept (the oldest goes first). */
const KEPT_LISTS = 16;

/**
 * listGroups within its own read gate (the page's: it never takes a place of the scripts' reads),
 * one read for every request asking the same while it runs, and its answer served again for
 * GROUP_LIST_FRESH_MS. Resolves to undefined when no place came free in time.
 */
export function createGroupLister(deps: ReadDeps, gate: ReadGate, now: () => number = Date.now): (query: GroupQuery) => Promise<GroupList | undefined> {
  // At most one entry per place in the gate and per read waiting for one.
  const inFlight = new Map<string, Promise<GroupList | undefined>>();
  const kept = new Map<string, GroupList>();
  return (query) => {
    const key = `${query.limit}\u0000${query.job}`;
    const fresh = kept.get(key);
    if (fresh !== undefined && now() - fresh.now < GROUP_LIST_FRESH_MS) return Promise.resolve(fresh);
    const shared = inFlight.get(key);
    if (shared !== undefined) return shared;
    const read = (async (): Promise<GroupList | undefined> => {
      if (!(await gate.enter())) return undefined;
      try {
        const list = await listGroups(deps, query);
        kept.delete(key);
        kept.set(key, list);
        if (kept.size > KEPT_LISTS) kept.delete(kept.keys().next().value!);
        return list;
      } finally {
        gate.leave();
      }
    })().finally(() => inFlight.delete(key));
    inFlight.set(key, read);
    return read;
  };
}
