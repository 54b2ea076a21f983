/**
 * Which replicas may have missed writes, and since when. The write path marks a replica when a
 * write to it was skipped or failed; the reconciler marks a restarted replica and every replica
 * it copies to, and clears a mark once a pass that started after the latest mark finds the replica
 * in sync. Kept in this process's memory (one entry per replica of the configuration, so bounded
 * by the ring's size) and, with Redis, mirrored there so that every front door's misses reach
 * the one reconciler, and survive a restart.
 */
import type { Cluster, Redis } from 'ioredis';

/**
 * The suspect marks of replicas (named by their `shard/replica` ids). Every implementation
 * keeps this contract; test/contracts/suspect-store.ts checks it on each of them.
 *
 * Marks: mark(replica, at) makes the replica suspect. Marks of one incident (until a clear) are
 * merged whatever order they arrive in: since() answers the earliest `at`, and the latest `at`
 * decides clears.
 *
 * Clears: clear(replica, passStart) ends the incident only if its latest mark is older than
 * `passStart`: a write missed while the pass ran (marked at or after its start) keeps the
 * replica suspect, whichever front door marked it and in whichever order the two arrive.
 *
 * Reads: since() and count() answer at once from this process's view. A shared store (Redis)
 * takes the shared record as its view at refresh(), which the reconciler calls before a pass:
 * the marks other front doors made come in, and the incidents another front door's pass cleared
 * end here too (a front door that never runs a pass would otherwise hold its marks forever). A
 * mark this process made since its previous refresh, or that has not reached the store yet, is
 * kept and merged with the record: until it lands it is seen only where it was made.
 *
 * Bounds: one entry per replica; replicas come from the ring, so no further bound is needed.
 *
 * Concurrency and failure: mark() and clear() never throw and never make their caller wait.
 * refresh() reads after the writes this process already sent, and rejects when the shared store
 * cannot be read, leaving this process's view as it was. A mark that could not reach the shared
 * store is kept here and sent again until it does (while the process lives).
 */
export interface SuspectStore {
  /** Marks `replica` suspect at `at` (ms); an incident starts at its earliest mark. */
  mark(replica: string, at: number): void;
  /** Since when `replica` is suspect, or undefined. */
  since(replica: string): number | undefined;
  /** Clears the mark, unless the replica was marked again at or after `passStart`. */
  clear(replica: string, passStart: number): void;
  /** How many replicas are suspect. */
  count(): number;
  /** Takes the shared record's marks (Redis), keeping this process's recent ones; the reconciler calls it before a pass. */
  refresh?(): Promise<void>;
}

interface Mark {
  readonly since: number;
  readonly last: number;
}

const merge = (current: Mark | undefined, since: number, last: number): Mark =>
  current === undefined ? { since, last } : { since: Math.min(current.since, since), last: Math.max(current.last, last) };

export function createSuspectStore(): SuspectStore {
  const marks = new Map<string, Mark>();
  return {
    mark(replica, at) {
      marks.set(replica, merge(marks.get(replica), at, at));
    },
    since: (replica) => marks.get(replica)?.since,
    clear(replica, passStart) {
      const current = marks.get(replica);
      if (current !== undefined && current.last < passStart) marks.delete(replica);
    },
    count: () => marks.size,
  };
}

// Two hashes, `since` and `last` per replica, in one hash slot so the scripts run on Redis
// Cluster. Marks merge in the script (earliest since, latest last), so that two front doors'
// marks make the same record in either order.
const MARK = `
local since = redis.call('hget', KEYS[1], ARGV[1])
if not since or tonumber(ARGV[2]) < tonumber(since) then redis.call('hset', KEYS[1], ARGV[1], ARGV[2]) end
local last = redis.call('hget', KEYS[2], ARGV[1])
if not last or tonumber(ARGV[3]) > tonumber(last) then redis.call('hset', KEYS[2], ARGV[1], ARGV[3]) end
return 0
`;

const CLEAR = `
local last = redis.call('hget', KEYS[2], ARGV[1])
if last and tonumber(last) < tonumber(ARGV[2]) then
  redis.call('hdel', KEYS[1], ARGV[1])
  redis.call('hdel', KEYS[2], ARGV[1])
end
return 0
`;

// One `ready` listener per client, however many stores share it (tests make many).
const readyCallbacks = new WeakMap<Redis | Cluster, Array<() => void>>();
function onReady(client: Redis | Cluster, callback: () => void): void {
  let callbacks = readyCallbacks.get(client);
  if (callbacks === undefined) {
    const list: Array<() => void> = (callbacks = []);
    readyCallbacks.set(client, list);
    client.on('ready', () => {
      for (const c of list) c();
    });
  }
  callbacks.push(callback);
}

/**
 * The memory store, mirrored in Redis. Writes go out at once, without waiting: marks merge, so
 * their order does not matter, and a clear that lands before an older mark (a client may send
 * a command again after a later one) only leaves the replica suspect until the next pass. A mark
 * stays pending here until a write of it succeeded: it goes out again, merged, with the
 * replica's next mark, on every `ready` of the client and before a refresh, so a front door's
 * misses during a Redis outage still reach the reconciler. A refresh reads once the writes
 * already sent have been answered, then replaces this view with the record, except for replicas
 * still pending or marked here since the previous refresh began: a mark made while a read is on
 * its way may miss that read, so only the refresh after it may take the record's word.
 */
export function createRedisSuspectStore(client: Redis | Cluster, keyPrefix: string): SuspectStore {
  const local = createSuspectStore();
  const sinceKey = `${keyPrefix}{suspects}:since`;
  const lastKey = `${keyPrefix}{suspects}:last`;
  const pending = new Map<string, { mark: Mark; sending: number }>();
  const inFlight = new Set<Promise<unknown>>();
  // Every replica this view holds, with the number of its latest mark here (0: only from the
  // record), so that a refresh can tell the marks made since the previous one began.
  const held = new Map<string, number>();
  let marks = 0;
  let previousRefresh = 0;

  const track = (write: Promise<unknown>): void => {
    const settled = write.catch(() => undefined);
    inFlight.add(settled);
    void settled.then(() => inFlight.delete(settled));
  };
  const send = (replica: string): void => {
    const entry = pending.get(replica)!;
    entry.sending++;
    const write = client.eval(MARK, 2, sinceKey, lastKey, replica, String(entry.mark.since), String(entry.mark.last));
    // Each write carries every mark pending before it: when the last one sent succeeds, the
    // record holds them all.
    write.then(
      () => {
        if (--entry.sending === 0 && pending.get(replica) === entry) pending.delete(replica);
      },
      () => void entry.sending--,
    );
    track(write);
  };
  const resend = (): void => {
    for (const [replica, entry] of pending) if (entry.sending === 0) send(replica);
  };
  onReady(client, resend);

  return {
    mark(replica, at) {
      local.mark(replica, at);
      held.set(replica, ++marks);
      const entry = pending.get(replica);
      if (entry === undefined) pending.set(replica, { mark: { since: at, last: at }, sending: 0 });
      else entry.mark = merge(entry.mark, at, at);
      send(replica);
    },
    since: (replica) => local.since(replica),
    count: () => local.count(),
    clear(replica, passStart) {
      local.clear(replica, passStart);
      if ((pending.get(replica)?.mark.last ?? Infinity) < passStart) pending.delete(replica);
      track(client.eval(CLEAR, 2, sinceKey, lastKey, replica, String(passStart)));
    },
    async refresh() {
      const began = marks;
      resend();
      await Promise.all(inFlight);
      const [since, last] = await Promise.all([client.hgetall(sinceKey), client.hgetall(lastKey)]);
      for (const replica of new Set([...held.keys(), ...Object.keys(since), ...Object.keys(last)])) {
        const recent = pending.has(replica) || (held.get(replica) ?? 0) > previousRefresh;
        if (!recent) {
          local.clear(replica, Infinity);
          held.delete(replica);
        }
        if (since[replica] === undefined && last[replica] === undefined) continue;
        local.mark(replica, Number(since[replica] ?? last[replica]));
        local.mark(replica, Number(last[replica] ?? since[replica]));
        if (!held.has(replica)) held.set(replica, 0);
      }
      previousRefresh = began;
    },
  };
}
