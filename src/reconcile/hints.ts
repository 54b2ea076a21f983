/**
 * Hinted handoff: the writes a replica missed, kept so they can be replayed in order. In memory
 * (bounded in count and bytes), or in Redis so that they survive a front door restart and reach
 * whichever front door runs the reconciler (bounded in count per replica).
 */
import type { Cluster, Redis } from 'ioredis';

export interface Hint {
  readonly group: string;
  readonly method: 'PUT' | 'POST' | 'DELETE';
  readonly path: string;
  /** Flat `[name, value, …]`, as forwarded (content type and encoding among them). */
  readonly headers: readonly string[];
  readonly body: Buffer | null;
  /** When the client's push arrived (ms). */
  readonly at: number;
}

/**
 * The hints of each replica (named by its `shard/replica` id), kept for replay. Every
 * implementation keeps this contract; test/contracts/hint-store.ts checks it on each of them.
 *
 * Ordering: drain(replica) answers the replica's hints in the order add() was given them,
 * collapsed (collapseHints): per group, what follows its last PUT or DELETE, groups in the order
 * of their oldest kept hint. Where several front doors share one store (Redis), the order is the
 * one in which the store received them; one process's adds keep the order of its calls.
 *
 * Superseding: a PUT or DELETE of a group forgets that replica's earlier hints of the group at
 * once. They take no room, and they are not counted as dropped (the newer write replaces them).
 *
 * Bounds: at most `maxPerReplica` hints per replica, counted after superseding. When an add
 * would exceed it, the replica's *oldest* hints are dropped to make room, never the new one: for
 * replay, the newest writes matter most. Every hint accepted is counted once through
 * `events.queued()`; every hint dropped (to make room, or one that could not be kept at all)
 * through `events.dropped(n)`. The memory store also bounds the bytes of all replicas together,
 * dropping the oldest hints of any replica first; a hint larger than that bound alone is
 * dropped itself. In Redis the bound is per replica for all the front doors that share it, and
 * each front door holds at most 10,000 hints (16 MiB) per replica waiting to be sent.
 *
 * Draining: drain() takes every hint the replica has at that moment and forgets them, at once:
 * an add lands wholly before the drain (and is in its answer) or after it (and waits for the
 * next), and no hint is handed to two drains, even from two front doors.
 *
 * Concurrency and failure: add() never throws and never makes its caller wait; a hint it cannot
 * keep (the store unreachable) is counted as dropped. drain() rejects when the store cannot be
 * read, and then the hints stay for a later drain, except when the store took them and only its
 * answer was lost (Redis: a command time-out): those are gone, never replayed twice.
 */
export interface HintStore {
  /** Remembers a missed write; never throws (a hint that cannot be kept is counted as dropped). */
  add(replica: string, hint: Hint): void;
  /** Takes every hint of `replica`, collapsed, oldest first, and forgets them. */
  drain(replica: string): Promise<Hint[]>;
}

export interface HintEvents {
  queued(): void;
  dropped(count: number): void;
}

/**
 * Per group, only what follows its last PUT or DELETE; groups in the order of their first hint
 * kept. A store that forgets superseded hints as they come gets the same answer from what it kept.
 */
export function collapseHints(hints: readonly Hint[]): Hint[] {
  const byGroup = new Map<string, Hint[]>();
  for (const hint of hints) {
    const list = byGroup.get(hint.group);
    if (list !== undefined && hint.method === 'POST') {
      list.push(hint);
      continue;
    }
    // Deleted first, so that the group takes its place after the groups kept before it.
    byGroup.delete(hint.group);
    byGroup.set(hint.group, [hint]);
  }
  return [...byGroup.values()].flat();
}

interface Kept {
  readonly hint: Hint;
  /** Order of arrival over every replica: the byte bound drops the oldest of any replica. */
  readonly seq: number;
  readonly size: number;
}

export function createMemoryHintStore(limits: { maxPerReplica: number; maxBytes: number }, events: HintEvents): HintStore {
  // Each replica's hints in arrival order, already collapsed (a PUT or DELETE removes its group's).
  const byReplica = new Map<string, Kept[]>();
  let bytes = 0;
  let seq = 0;
  const sizeOf = (hint: Hint): number => (hint.body?.length ?? 0) + hint.path.length + hint.headers.reduce((n, h) => n + h.length, 0) + 64;
  const dropOldest = (replica: string, list: Kept[]): void => {
    bytes -= list.shift()!.size;
    if (list.length === 0) byReplica.delete(replica);
  };
  /** The replica whose oldest hint is the oldest of all (replicas are few: the ring's). */
  const oldestReplica = (): [string, Kept[]] | undefined => {
    let oldest: [string, Kept[]] | undefined;
    for (const entry of byReplica) if (oldest === undefined || entry[1][0]!.seq < oldest[1][0]!.seq) oldest = entry;
    return oldest;
  };
  return {
    add(replica, hint) {
      const size = sizeOf(hint);
      if (limits.maxPerReplica <= 0 || size > limits.maxBytes) {
        events.dropped(1);
        return;
      }
      let list = byReplica.get(replica);
      if (list === undefined) byReplica.set(replica, (list = []));
      if (hint.method !== 'POST') {
        // Superseded at once: keeps memory to about one hint per group.
        let kept = 0;
        for (const k of list) {
          if (k.hint.group === hint.group) bytes -= k.size;
          else list[kept++] = k;
        }
        list.length = kept;
      }
      list.push({ hint, seq: ++seq, size });
      bytes += size;
      events.queued();
      let dropped = 0;
      for (; list.length > limits.maxPerReplica; dropped++) dropOldest(replica, list);
      // The new hint fits on its own, so this stops before reaching it.
      for (; bytes > limits.maxBytes; dropped++) {
        const [oldest, oldestList] = oldestReplica()!;
        dropOldest(oldest, oldestList);
      }
      if (dropped > 0) events.dropped(dropped);
    },
    async drain(replica) {
      const list = byReplica.get(replica) ?? [];
      byReplica.delete(replica);
      for (const k of list) bytes -= k.size;
      return collapseHints(list.map((k) => k.hint));
    },
  };
}

interface StoredHint {
  g: string;
  m: Hint['method'];
  p: string;
  h: readonly string[];
  b: string | null;
  t: number;
}

/*
 * Four keys per replica, in one hash slot (the replica id is the hash tag) so that each script
 * runs whole on one Redis Cluster node:
 *   hints:{r}       list, one entry per kept hint, oldest first: the hint's group
 *   hints:{r}:data  hash, hint id -> the hint (StoredHint JSON)
 *   hints:{r}:ids   hash, group -> the ids of its kept hints, oldest first, space-separated
 *   hints:{r}:seq   the last hint id given out
 * Superseding a group is one LREM of its name, not a scan of the hints (bodies included) in Lua.
 * Older front doors kept the StoredHint JSON itself in the list (and trimmed it with LTRIM):
 * such entries have no ids, start with `{"` where a group (a canonical grouping key) never does,
 * and are drained as they are.
 */

/** ARGV: the bound, then group, method and StoredHint JSON of each hint, oldest first; answers how many were dropped. */
const ADD_HINTS = `
local max, dropped = tonumber(ARGV[1]), 0
for i = 2, #ARGV, 3 do
  local group = ARGV[i]
  local id = redis.call('incr', KEYS[4])
  local ids = redis.call('hget', KEYS[3], group)
  if ARGV[i + 1] ~= 'POST' then
    if ids then
      redis.call('lrem', KEYS[1], 0, group)
      for old in string.gmatch(ids, '%d+') do redis.call('hdel', KEYS[2], old) end
    end
    ids = false
  end
  redis.call('hset', KEYS[3], group, ids and (ids .. ' ' .. id) or tostring(id))
  redis.call('hset', KEYS[2], id, ARGV[i + 2])
  redis.call('rpush', KEYS[1], group)
  -- Trimmed after each hint, as if each came on its own: batching changes no count.
  while redis.call('llen', KEYS[1]) > max do
    local oldest = redis.call('lpop', KEYS[1])
    dropped = dropped + 1
    local rest = redis.call('hget', KEYS[3], oldest)
    if rest then
      local first, others = string.match(rest, '^(%d+) ?(.*)$')
      redis.call('hdel', KEYS[2], first)
      if others == '' then redis.call('hdel', KEYS[3], oldest) else redis.call('hset', KEYS[3], oldest, others) end
    end
  end
end
return dropped
`;

// A group with k entries left in the list stands for its k newest ids: an older front door's
// LTRIM may have dropped the oldest entries without their ids.
const DRAIN_HINTS = `
local entries = redis.call('lrange', KEYS[1], 0, -1)
local left = {}
for _, g in ipairs(entries) do left[g] = (left[g] or 0) + 1 end
local ids, nextOf, out = {}, {}, {}
for _, g in ipairs(entries) do
  if ids[g] == nil then
    local list = {}
    local joined = redis.call('hget', KEYS[3], g)
    if joined then for id in string.gmatch(joined, '%d+') do list[#list + 1] = id end end
    ids[g] = list
    nextOf[g] = #list - left[g] + 1
  end
  local list, i = ids[g], nextOf[g]
  nextOf[g] = i + 1
  if #list == 0 then
    if string.sub(g, 1, 2) == '{"' then out[#out + 1] = g end
  elseif i >= 1 then
    local stored = redis.call('hget', KEYS[2], list[i])
    if stored then out[#out + 1] = stored end
  end
end
redis.call('del', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return out
`;

/** Hints waiting for Redis while a command for their replica is in flight: beyond, the oldest waiting are dropped. */
const MAX_WAITING = { hints: 10_000, bytes: 16 * 1024 * 1024 };

type Queued =
  | { readonly kind: 'add'; readonly group: string; readonly method: Hint['method']; readonly json: string }
  | { readonly kind: 'drain'; readonly resolve: (hints: Hint[]) => void; readonly reject: (err: unknown) => void };

interface Outbox {
  readonly queue: Queued[];
  /** The adds in the queue, and the bytes of their JSON. */
  waiting: number;
  waitingBytes: number;
  running: boolean;
}

/**
 * One queue per replica, one command in flight: ioredis may send a command again after a later
 * one (Redis Cluster retries a command refused while a node connection opens or a slot moves),
 * and the order of a replica's hints is the contract. Adds waiting behind a command go out
 * together in the next; a drain waits for the adds before it, not for those after.
 */
export function createRedisHintStore(client: Redis | Cluster, keyPrefix: string, maxPerReplica: number, events: HintEvents): HintStore {
  const outboxes = new Map<string, Outbox>();
  const keysOf = (replica: string): [string, string, string, string] => {
    const list = `${keyPrefix}hints:{${replica}}`;
    return [list, `${list}:data`, `${list}:ids`, `${list}:seq`];
  };

  const run = async (replica: string, box: Outbox): Promise<void> => {
    box.running = true;
    const keys = keysOf(replica);
    while (box.queue.length > 0) {
      const head = box.queue[0]!;
      if (head.kind === 'drain') {
        box.queue.shift();
        try {
          head.resolve(parseHints((await client.eval(DRAIN_HINTS, 4, ...keys)) as string[]));
        } catch (err) {
          head.reject(err);
        }
        continue;
      }
      const end = box.queue.findIndex((q) => q.kind === 'drain');
      const batch = box.queue.splice(0, end === -1 ? box.queue.length : end) as Array<Extract<Queued, { kind: 'add' }>>;
      box.waiting -= batch.length;
      for (const q of batch) box.waitingBytes -= q.json.length;
      try {
        const dropped = Number(await client.eval(ADD_HINTS, 4, ...keys, String(maxPerReplica), ...batch.flatMap((q) => [q.group, q.method, q.json])));
        for (let i = 0; i < batch.length; i++) events.queued();
        if (dropped > 0) events.dropped(dropped);
      } catch {
        events.dropped(batch.length);
      }
    }
    box.running = false;
  };

  const enqueue = (replica: string, queued: Queued): void => {
    let box = outboxes.get(replica);
    if (box === undefined) outboxes.set(replica, (box = { queue: [], waiting: 0, waitingBytes: 0, running: false }));
    box.queue.push(queued);
    if (queued.kind === 'add') {
      box.waiting++;
      box.waitingBytes += queued.json.length;
      while (box.waiting > MAX_WAITING.hints || box.waitingBytes > MAX_WAITING.bytes) {
        const oldest = box.queue.findIndex((q) => q.kind === 'add');
        box.waitingBytes -= (box.queue.splice(oldest, 1)[0] as Extract<Queued, { kind: 'add' }>).json.length;
        box.waiting--;
        events.dropped(1);
      }
    }
    if (!box.running) void run(replica, box);
  };

  return {
    add(replica, hint) {
      if (maxPerReplica <= 0) {
        events.dropped(1);
        return;
      }
      const stored: StoredHint = { g: hint.group, m: hint.method, p: hint.path, h: hint.headers, b: hint.body?.toString('base64') ?? null, t: hint.at };
      enqueue(replica, { kind: 'add', group: hint.group, method: hint.method, json: JSON.stringify(stored) });
    },
    drain(replica) {
      return new Promise((resolve, reject) => enqueue(replica, { kind: 'drain', resolve, reject }));
    },
  };
}

function parseHints(raw: readonly string[]): Hint[] {
  const hints = raw.map((entry): Hint => {
    const s = JSON.parse(entry) as StoredHint;
    return { group: s.g, method: s.m, path: s.p, headers: s.h, body: s.b === null ? null : Buffer.from(s.b, 'base64'), at: s.t };
  });
  return collapseHints(hints);
}
