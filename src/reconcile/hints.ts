/**
 * Hinted handoff: the writes a replica missed, kept so they can be replayed in order. In memory
 * (bounded in count and bytes), or in Redis so that they survive a front door restart (bounded
 * per replica by LTRIM). Superseded hints collapse: a PUT or DELETE of a group makes every
 * earlier hint of that group pointless; POSTs after it stay, in order.
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

/** Per group, only what follows its last PUT or DELETE; groups in order of their first hint. */
export function collapseHints(hints: readonly Hint[]): Hint[] {
  const byGroup = new Map<string, Hint[]>();
  for (const hint of hints) {
    const list = byGroup.get(hint.group);
    if (list === undefined || hint.method !== 'POST') byGroup.set(hint.group, [hint]);
    else list.push(hint);
  }
  return [...byGroup.values()].flat();
}

export function createMemoryHintStore(limits: { maxPerReplica: number; maxBytes: number }, events: HintEvents): HintStore {
  const byReplica = new Map<string, Hint[]>();
  let bytes = 0;
  const sizeOf = (hint: Hint): number => (hint.body?.length ?? 0) + hint.path.length + 64;
  return {
    add(replica, hint) {
      let list = byReplica.get(replica);
      if (list === undefined) byReplica.set(replica, (list = []));
      if (hint.method !== 'POST') {
        // Superseded at once: keeps memory to about one hint per group.
        const kept = list.filter((h) => h.group !== hint.group);
        for (const h of list) if (h.group === hint.group) bytes -= sizeOf(h);
        list.length = 0;
        list.push(...kept);
      }
      if (list.length >= limits.maxPerReplica || bytes + sizeOf(hint) > limits.maxBytes) {
        events.dropped(1);
        return;
      }
      list.push(hint);
      bytes += sizeOf(hint);
      events.queued();
    },
    async drain(replica) {
      const list = byReplica.get(replica) ?? [];
      byReplica.delete(replica);
      for (const h of list) bytes -= sizeOf(h);
      return collapseHints(list);
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

export function createRedisHintStore(client: Redis | Cluster, keyPrefix: string, maxPerReplica: number, events: HintEvents): HintStore {
  const keyOf = (replica: string): string => `${keyPrefix}hints:{${replica}}`;
  return {
    add(replica, hint) {
      const stored: StoredHint = { g: hint.group, m: hint.method, p: hint.path, h: hint.headers, b: hint.body?.toString('base64') ?? null, t: hint.at };
      const key = keyOf(replica);
      // RPUSH then LTRIM in one round trip: the list keeps the newest maxPerReplica hints.
      client
        .multi()
        .rpush(key, JSON.stringify(stored))
        .ltrim(key, -maxPerReplica, -1)
        .exec()
        .then(() => events.queued())
        .catch(() => events.dropped(1));
    },
    async drain(replica) {
      const key = keyOf(replica);
      const result = await client.multi().lrange(key, 0, -1).del(key).exec();
      const raw = (result?.[0]?.[1] as string[] | undefined) ?? [];
      const hints = raw.map((entry): Hint => {
        const s = JSON.parse(entry) as StoredHint;
        return { group: s.g, method: s.m, path: s.p, headers: s.h, body: s.b === null ? null : Buffer.from(s.b, 'base64'), at: s.t };
      });
      return collapseHints(hints);
    },
  };
}
