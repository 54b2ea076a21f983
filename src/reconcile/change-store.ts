/**
 * Where the ring change's shared state lives: the change record, the published ring and the
 * front doors' heartbeats (core/ring-change.ts says what they mean). In Redis when front doors
 * share one, in this process's memory for a lone front door. Both implementations pass one
 * contract suite (test/contracts/change-store.ts).
 *
 * Contract:
 * - Reads return copies: changing what a read returned changes nothing stored.
 * - `writeRecord(r, true)` and `publish(p, true)` store only when nothing is stored yet (the first
 *   front door to record a change wins; the others read the winner's record back).
 * - A heartbeat counts until its `until`, in the store's own clock (`now()`): expired ones are
 *   left out of `readBeats()` and removed on the way, so the hash stays bounded by the live
 *   front doors plus those that died since the last read.
 * - Operations are independent round trips, not transactions: settling and closing are
 *   read-then-write, done only by the reconcile lease holder.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Beat, ChangeRecord, Published } from '../core/ring-change.js';

export interface ChangeStore {
  /** The store's clock, in ms: heartbeats expire by it, so hosts' clocks do not matter. */
  now(): Promise<number>;
  readRecord(): Promise<ChangeRecord | undefined>;
  writeRecord(record: ChangeRecord, onlyIfAbsent: boolean): Promise<void>;
  deleteRecord(): Promise<void>;
  readPublished(): Promise<Published | undefined>;
  publish(published: Published, onlyIfAbsent: boolean): Promise<void>;
  /** The live heartbeats; expired ones are removed. */
  readBeats(): Promise<Beat[]>;
  writeBeat(frontDoor: string, beat: Beat): Promise<void>;
  removeBeat(frontDoor: string): Promise<void>;
}

/**
 * Keys: `<prefix>transition` (the record), `<prefix>ring` (the published ring), `<prefix>{fds}`
 * (a hash of heartbeats, front door id → beat).
 */
export function createRedisChangeStore(client: Redis | Cluster, keyPrefix: string): ChangeStore {
  const recordKey = `${keyPrefix}transition`;
  const ringKey = `${keyPrefix}ring`;
  const beatsKey = `${keyPrefix}{fds}`;
  const read = async <T>(key: string): Promise<T | undefined> => {
    const raw = await client.get(key);
    return raw === null ? undefined : (JSON.parse(raw) as T);
  };
  const write = async (key: string, value: unknown, onlyIfAbsent: boolean): Promise<void> => {
    if (onlyIfAbsent) await client.set(key, JSON.stringify(value), 'NX');
    else await client.set(key, JSON.stringify(value));
  };
  const now = async (): Promise<number> => {
    const [seconds, micros] = await client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };
  return {
    now,
    readRecord: () => read<ChangeRecord>(recordKey),
    writeRecord: (record, onlyIfAbsent) => write(recordKey, record, onlyIfAbsent),
    async deleteRecord() {
      await client.del(recordKey);
    },
    readPublished: () => read<Published>(ringKey),
    publish: (published, onlyIfAbsent) => write(ringKey, published, onlyIfAbsent),
    async readBeats() {
      const at = await now();
      const live: Beat[] = [];
      const gone: string[] = [];
      for (const [field, value] of Object.entries(await client.hgetall(beatsKey))) {
        const beat = JSON.parse(value) as Beat;
        if (beat.until > at) live.push(beat);
        else gone.push(field);
      }
      if (gone.length > 0) await client.hdel(beatsKey, ...gone);
      return live;
    },
    async writeBeat(frontDoor, beat) {
      await client.hset(beatsKey, frontDoor, JSON.stringify(beat));
    },
    async removeBeat(frontDoor) {
      await client.hdel(beatsKey, frontDoor);
    },
  };
}

/** The same state in this process: for a lone front door, whose change nobody else follows. */
export function createMemoryChangeStore(clock: () => number = Date.now): ChangeStore {
  // Kept as JSON, as Redis keeps it: a caller holding a read cannot change what is stored.
  let record: string | undefined;
  let published: string | undefined;
  const beats = new Map<string, string>();
  const parse = <T>(raw: string | undefined): T | undefined => (raw === undefined ? undefined : (JSON.parse(raw) as T));
  return {
    now: async () => clock(),
    readRecord: async () => parse<ChangeRecord>(record),
    async writeRecord(next, onlyIfAbsent) {
      if (!onlyIfAbsent || record === undefined) record = JSON.stringify(next);
    },
    async deleteRecord() {
      record = undefined;
    },
    readPublished: async () => parse<Published>(published),
    async publish(next, onlyIfAbsent) {
      if (!onlyIfAbsent || published === undefined) published = JSON.stringify(next);
    },
    async readBeats() {
      const at = clock();
      const live: Beat[] = [];
      for (const [frontDoor, raw] of beats) {
        const beat = JSON.parse(raw) as Beat;
        if (beat.until > at) live.push(beat);
        else beats.delete(frontDoor);
      }
      return live;
    },
    async writeBeat(frontDoor, beat) {
      beats.set(frontDoor, JSON.stringify(beat));
    },
    async removeBeat(frontDoor) {
      beats.delete(frontDoor);
    },
  };
}
