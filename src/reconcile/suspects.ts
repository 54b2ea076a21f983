/**
 * Which replicas may have missed writes, and since when. The write path marks a replica when a
 * write to it was skipped or failed; the reconciler marks a restarted replica and every replica
 * it copies to, and clears a mark once a pass that started after the latest mark finds the replica
 * in sync. Kept in this process's memory (one entry per replica of the configuration, so bounded
 * by the ring's size) and, with Redis, mirrored there so that every front door's misses reach
 * the one reconciler, and survive a restart.
 */
import type { Cluster, Redis } from 'ioredis';
export interface SuspectStore {
  /** Marks `replica` suspect at `at` (ms); the first mark of an incident stays its start. */
  mark(replica: string, at: number): void;
  /** Since when `replica` is suspect, or undefined. */
  since(replica: string): number | undefined;
  /** Clears the mark, unless the replica was marked again at or after `passStart`. */
  clear(replica: string, passStart: number): void;
  /** How many replicas are suspect. */
  count(): number;
  /** Brings in the marks other front doors made (Redis); the reconciler calls it before a pass. */
  refresh?(): Promise<void>;
}

export function createSuspectStore(): SuspectStore {
  const marks = new Map<string, { since: number; last: number }>();
  return {
    mark(replica, at) {
      const current = marks.get(replica);
      marks.set(replica, { since: current?.since ?? at, last: Math.max(current?.last ?? at, at) });
    },
    since: (replica) => marks.get(replica)?.since,
    clear(replica, passStart) {
      const current = marks.get(replica);
      if (current !== undefined && current.last < passStart) marks.delete(replica);
    },
    count: () => marks.size,
  };
}

/**
 * The memory store, mirrored in two Redis hashes (`since` and `last` per replica). Writes go out
 * without waiting; a failed write only delays a repair until the next miss or restart.
 */
export function createRedisSuspectStore(client: Redis | Cluster, keyPrefix: string): SuspectStore {
  const local = createSuspectStore();
  // One hash slot for both keys, so the Lua scripts also run on Redis Cluster.
  const sinceKey = `${keyPrefix}{suspects}:since`;
  const lastKey = `${keyPrefix}{suspects}:last`;
  const ignore = (): void => undefined;
  return {
    mark(replica, at) {
      local.mark(replica, at);
      client
        .multi()
        .hsetnx(sinceKey, replica, String(at))
        .hset(lastKey, replica, String(at))
        .exec()
        .catch(ignore);
    },
    since: (replica) => local.since(replica),
    count: () => local.count(),
    clear(replica, passStart) {
      local.clear(replica, passStart);
      // Only if no front door marked it since the pass started.
      client
        .eval(
          "local last = redis.call('hget', KEYS[2], ARGV[1]) if last and tonumber(last) < tonumber(ARGV[2]) then redis.call('hdel', KEYS[1], ARGV[1]) redis.call('hdel', KEYS[2], ARGV[1]) end return 0",
          2,
          sinceKey,
          lastKey,
          replica,
          String(passStart),
        )
        .catch(ignore);
    },
    async refresh() {
      const [since, last] = await Promise.all([client.hgetall(sinceKey), client.hgetall(lastKey)]);
      for (const [replica, at] of Object.entries(since)) {
        local.mark(replica, Number(at));
        local.mark(replica, Number(last[replica] ?? at));
      }
    },
  };
}
