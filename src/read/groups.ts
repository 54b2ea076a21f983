/**
 * GET /-/api/groups: the groups the page at `/` lists, each from its authoritative shard as GET
 * /api/v1/metrics shows them (reads.ts), one row each (core/group-list.ts) with its shard, the
 * first `limit` in order of job and labels. Shards are read in parallel and streamed; a shard
 * none of whose replicas could be read is named in `unreadShards`, and `complete` is false: the
 * page says the list lacks its groups rather than show fewer as if that were all.
 */
import type { ApiGroup } from '../core/exposition.js';
import { compileGlob } from '../core/glob.js';
import { FirstInOrder, compareRows, rowOf, type GroupQuery, type GroupRow } from '../core/group-list.js';
import { createJsonArraySplitter } from '../core/json-array.js';
import { openShard, viewOf, type ReadDeps } from './reads.js';

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
  const rows = new FirstInOrder<GroupRow>(query.limit, compareRows);
  const unread: { shard: string; reason: string }[] = [];
  const view = viewOf(deps.cluster);
  await Promise.all(
    view.shards.map(async (shard) => {
      try {
        const { stream } = await openShard(deps, shard, '/api/v1/metrics');
        try {
          const splitter = createJsonArraySplitter('data');
          for (let chunk = await stream.next(); chunk !== undefined; chunk = await stream.next()) {
            for (const text of splitter.push(chunk)) {
              const group = JSON.parse(text) as ApiGroup;
              if (!glob.test(group.labels['job'] ?? '') || !view.shows(shard.name, group.labels)) continue;
              rows.offer(rowOf(group, shard.name));
            }
          }
          splitter.end();
        } finally {
          stream.close();
        }
      } catch (err) {
        unread.push({ shard: shard.name, reason: (err as Error).message });
      }
    }),
  );
  unread.sort((a, b) => (a.shard < b.shard ? -1 : 1));
  return { now: Date.now(), groups: rows.list, matched: rows.offered, complete: unread.length === 0, unreadShards: unread };
}
