/**
 * The phases of a ring change across front doors (docs/resizing.md). Every front door reports
 * its ring version and phase; the reconciler may declare the migration settled (front doors stop
 * writing the old owners) only when every live front door writes both owners of the new ring, and
 * may delete stray copies only when every live front door writes the new owners alone.
 *
 * One front door: all of it in memory. Several (Redis): each publishes a heartbeat
 * `<prefix>fd:<id>` = {version, phase} with a short time-to-live, and one transition record
 * `<prefix>transition` = {from, to, fromShards, settled} says which change is under way.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster as RedisCluster, Redis } from 'ioredis';
import { ringVersion, type Cluster } from '../backends/cluster.js';
import type { Config } from '../config/schema.js';

export interface Transition {
  /** The phase migration planning uses now: copy while anyone writes both, delete after. */
  migrationPhase(): Promise<'copy' | 'delete'>;
  /** The reconciler found every moved group on its owner. */
  settle(): Promise<void>;
  /** The reconciler found no stray copy left: the change is complete. */
  close(): Promise<void>;
  /** Before applying a reloaded ring: why it must wait, or undefined when it may go ahead. */
  refuse(next: Readonly<Config>, nextVersion: string): Promise<string | undefined>;
  /** After applying it. */
  started(previous: Readonly<Config>, nextVersion: string): Promise<void>;
  stop(): Promise<void>;
}

export function createLocalTransition(cluster: Cluster): Transition {
  return {
    migrationPhase: async () => (cluster.phase === 'dual' ? 'copy' : 'delete'),
    settle: async () => cluster.endTransition(),
    close: async () => undefined,
    refuse: async (_next, nextVersion) =>
      cluster.phase === 'dual' && nextVersion !== cluster.version ? 'a ring change is still being applied; reload again once pushring_ring_info shows phase="steady"' : undefined,
    started: async () => undefined,
    stop: async () => undefined,
  };
}

interface Record {
  from: string;
  to: string;
  fromShards: Config['shards'];
  settled: boolean;
}

interface Beat {
  version: string;
  phase: 'steady' | 'dual';
  /** ms since the epoch after which this front door counts as gone. */
  until: number;
}

export function createRedisTransition(
  client: Redis | RedisCluster,
  keyPrefix: string,
  cluster: Cluster,
  /** Re-enter a transition found under way at start: the ring it comes from. */
  resume: (fromShards: Config['shards']) => void,
  heartbeatMs = 1_000,
): Transition & { beat(): Promise<void> } {
  const id = randomUUID();
  const recordKey = `${keyPrefix}transition`;
  const beatsKey = `${keyPrefix}{fds}`;
  const readRecord = async (): Promise<Record | undefined> => {
    const raw = await client.get(recordKey);
    return raw === null ? undefined : (JSON.parse(raw) as Record);
  };
  /** The live front doors' states; fields of front doors gone quiet are removed on the way. */
  const readBeats = async (): Promise<Beat[]> => {
    const now = Date.now();
    const live: Beat[] = [];
    for (const [field, value] of Object.entries(await client.hgetall(beatsKey))) {
      const b = JSON.parse(value) as Beat;
      if (b.until > now) live.push(b);
      else await client.hdel(beatsKey, field);
    }
    return live;
  };
  let resumed = false;
  const beat = async (): Promise<void> => {
    const record = await readRecord();
    if (record !== undefined && record.to === cluster.version) {
      // Started (or restarted) in the middle of a change: write both owners like everyone else.
      if (!resumed && !record.settled && cluster.phase === 'steady') resume(record.fromShards);
      if (record.settled && cluster.phase === 'dual') cluster.endTransition();
    }
    resumed = true;
    const state: Beat = { version: cluster.version, phase: cluster.phase, until: Date.now() + heartbeatMs * 3 };
    await client.hset(beatsKey, id, JSON.stringify(state));
  };
  const timer = setInterval(() => void beat().catch(() => undefined), heartbeatMs);
  timer.unref();
  return {
    beat,
    async migrationPhase() {
      const record = await readRecord();
      if (record === undefined) return cluster.phase === 'dual' ? 'copy' : 'delete';
      const beats = await readBeats();
      // Delete only when every live front door is on the new ring and writes it alone.
      const allNew = beats.every((b) => b.version === record.to && b.phase === 'steady');
      return record.settled && allNew ? 'delete' : 'copy';
    },
    async settle() {
      const record = await readRecord();
      if (record === undefined || record.settled) return;
      // Every live front door must be writing both owners before anyone stops writing the old.
      const beats = await readBeats();
      if (!beats.every((b) => b.version === record.to)) return;
      await client.set(recordKey, JSON.stringify({ ...record, settled: true }));
      await beat();
    },
    async close() {
      const record = await readRecord();
      if (record?.settled === true && record.to === cluster.version) await client.del(recordKey);
    },
    async refuse(_next, nextVersion) {
      const record = await readRecord();
      if (record !== undefined && record.to !== nextVersion) {
        return `the ring change to ${record.to} is still being applied; reload again once it is done (pushring_ring_info phase="steady" on every front door)`;
      }
      return undefined;
    },
    async started(previous, nextVersion) {
      const record: Record = { from: ringVersion(previous.shards), to: nextVersion, fromShards: previous.shards, settled: false };
      // The first front door to reload records the change; the others join it.
      await client.set(recordKey, JSON.stringify(record), 'NX');
      await beat();
    },
    async stop() {
      clearInterval(timer);
      await client.hdel(beatsKey, id).catch(() => undefined);
    },
  };
}
