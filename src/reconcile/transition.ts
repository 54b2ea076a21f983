/**
 * The phases of a ring change across front doors (docs/resizing.md).
 *
 * A change from ring A to ring B goes `copy` (front doors write the old owner first, the new one
 * too once they have loaded B) → `hold` (every moved group is on its new owner; front doors switch
 * to the new owners alone) → `delete` (every live front door writes the new owners alone: stray
 * copies go) → closed.
 *
 * One front door: all of it in memory. Several (Redis):
 * - `<prefix>ring` = {version, shards, previous}: the ring in force when no change is under way
 *   (and the one before it), so that a front door started with another ring (a rolling restart
 *   with a new file) starts a change rather than silently writing elsewhere, and one started with
 *   a stale file is fenced;
 * - `<prefix>transition` = {id, from, to, fromShards, toShards, settled}: the change under way;
 * - `<prefix>{fds}`: a hash of heartbeats, front door id → {version, phase, dualReady, until},
 *   with `until` in Redis's own clock so that hosts' clocks do not matter.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster as RedisCluster, Redis } from 'ioredis';
import { ringVersion, type Cluster, type RingPhase } from '../backends/cluster.js';
import type { Config } from '../config/schema.js';
import { ringOf, type Ring } from '../core/ring.js';
import type { MigrationPhase } from '../core/migrate.js';

export interface TransitionState {
  /** Identifies the change under way; undefined when there is none. */
  readonly id: string | undefined;
  readonly phase: MigrationPhase | 'none';
  /** The version the change goes to. */
  readonly to: string | undefined;
  /** The ring it comes from. */
  readonly from: Ring | undefined;
  /** Every live front door has loaded the new ring and writes both owners. */
  readonly everyoneDual: boolean;
}

/**
 * What a reload may do: wait (`refused`), apply the ring without a change (`catchUp`: it is in
 * force already), or apply it in the change from `from` (the ring in force, which may not be the
 * one this front door served: it may have been behind).
 */
export type Begun = { readonly refused: string } | { readonly catchUp: true } | { readonly from: Config['shards'] };

export const NO_CHANGE: TransitionState = { id: undefined, phase: 'none', to: undefined, from: undefined, everyoneDual: false };

export interface Transition {
  state(): Promise<TransitionState>;
  /** Every moved group is on its owner: front doors may stop writing the old owners. True when done. */
  settle(id: string): Promise<boolean>;
  /** No stray copy is left: the change is complete. */
  close(id: string): Promise<void>;
  /**
   * Before a reloaded ring is applied: records the change (or joins the one recorded for the same
   * ring). `refused`: why the ring must wait; `catchUp`: the ring is already in force everywhere
   * else (this front door was behind), so it is applied without a change.
   */
  begin(previous: Readonly<Config>, next: Readonly<Config>): Promise<Begun>;
  /** Joins the change under way, if any, before the front door takes pushes. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** How long no front door must serve the published ring before one on the ring before it rolls back. */
const ROLLBACK_AFTER_MS = 30_000;

const stillApplying = (version: string): string =>
  `the ring change to ${version} is still being applied; this one is applied once it completes (pushring_ring_change_phase{phase="none"})`;

/**
 * Writing both owners, for longer than `lagMs`: pushes routed by the old ring alone before the
 * switch (each bounded by the write time-out) have landed.
 */
function dualFor(cluster: Cluster, lagMs: number): boolean {
  return cluster.dualSince !== undefined && Date.now() - cluster.dualSince > lagMs;
}

/** `lagMs`: how long a push may take (write.timeoutMs), plus a margin. */
export function createLocalTransition(cluster: Cluster, lagMs: number): Transition {
  let current: { id: string; to: string; from: Ring } | undefined;
  return {
    async state() {
      if (current === undefined) return NO_CHANGE;
      const dual = cluster.phase === 'dual';
      return { id: current.id, phase: dual ? 'copy' : 'delete', to: current.to, from: current.from, everyoneDual: dualFor(cluster, lagMs) };
    },
    async settle(id) {
      if (current?.id !== id) return false;
      cluster.endTransition();
      return true;
    },
    async close(id) {
      if (current?.id === id) current = undefined;
    },
    async begin(previous, next) {
      const to = ringVersion(next.shards);
      if (current !== undefined && current.to !== to) return { refused: stillApplying(current.to) };
      current ??= { id: randomUUID(), to, from: ringOf(previous.shards) };
      return { from: previous.shards };
    },
    start: async () => undefined,
    stop: async () => undefined,
  };
}

/** `<prefix>transition`: the change under way. */
export interface ChangeRecord {
  id: string;
  from: string;
  to: string;
  fromShards: Config['shards'];
  toShards: Config['shards'];
  settled: boolean;
  /** The change that made the ring it comes from (the published ring's `closed`). */
  base?: string;
}

const isDualOn = (b: Beat, version: string): boolean => b.version === version && b.phase === 'dual' && b.dualReady;

/** The ring in force when no change is under way, and the one before it. */
interface Published {
  version: string;
  shards: Config['shards'];
  previous?: string;
  /** The id of the change that made this ring the one in force. */
  closed?: string;
}

interface Beat {
  version: string;
  phase: RingPhase;
  /** Dual for long enough (see dualFor). */
  dualReady: boolean;
  /** Redis time (ms) after which this front door counts as gone. */
  until: number;
}

export interface RedisTransitionOptions {
  readonly client: Redis | RedisCluster;
  readonly keyPrefix: string;
  readonly cluster: Cluster;
  /** The configuration this front door serves (its shards make the published ring). */
  readonly config: () => Readonly<Config>;
  /** Told when the front door cannot follow the change under way. */
  readonly warn: (message: string) => void;
  /** Publish a heartbeat (front doors); false for a one-off `pushring reconcile`. */
  readonly beats?: boolean;
  readonly heartbeatMs?: number;
  /** How long a push may take (write.timeoutMs), plus a margin. */
  readonly lagMs?: number;
  /** How long no front door must serve the published ring before one on the ring before it rolls back. */
  readonly rollbackAfterMs?: number;
}

export function createRedisTransition(options: RedisTransitionOptions): Transition & { beat(): Promise<void> } {
  const { client, keyPrefix, cluster } = options;
  const heartbeatMs = options.heartbeatMs ?? 1_000;
  const id = randomUUID();
  const recordKey = `${keyPrefix}transition`;
  const ringKey = `${keyPrefix}ring`;
  const beatsKey = `${keyPrefix}{fds}`;
  let lastWarning: string | undefined;
  const warn = (message: string): void => {
    if (message !== lastWarning) options.warn(message);
    lastWarning = message;
  };
  const redisNow = async (): Promise<number> => {
    const [seconds, micros] = await client.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };
  const readRecord = async (): Promise<ChangeRecord | undefined> => {
    const raw = await client.get(recordKey);
    return raw === null ? undefined : (JSON.parse(raw) as ChangeRecord);
  };
  /** The live front doors' states; those gone quiet are removed on the way. */
  const readBeats = async (): Promise<Beat[]> => {
    const now = await redisNow();
    const live: Beat[] = [];
    for (const [field, value] of Object.entries(await client.hgetall(beatsKey))) {
      const b = JSON.parse(value) as Beat;
      if (b.until > now) live.push(b);
      else await client.hdel(beatsKey, field);
    }
    return live;
  };
  const createRecord = async (fromShards: Config['shards'], toShards: Config['shards'], base: string | undefined): Promise<ChangeRecord> => {
    const record: ChangeRecord = { id: randomUUID(), from: ringVersion(fromShards), to: ringVersion(toShards), fromShards, toShards, settled: false, ...(base === undefined ? {} : { base }) };
    // The first front door to load the ring records the change; the others join it.
    await client.set(recordKey, JSON.stringify(record), 'NX');
    return (await readRecord()) ?? record;
  };

  const readPublished = async (): Promise<Published | undefined> => {
    const raw = await client.get(ringKey);
    return raw === null ? undefined : (JSON.parse(raw) as Published);
  };
  /** The last change record seen: put back if Redis loses it before the change completes. */
  let known: ChangeRecord | undefined;
  /** When a live front door was last seen serving the published ring (see `behind`), which. */
  let publishedServedAt = Date.now();
  let publishedSeen: string | undefined;
  /** When follow() last completed. */
  let lastFollowed = Date.now();
  /** Since when it has been fenced in a change (see `fencedIn`). */
  let fencedSince = 0;
  /** Fenced for lack of a shard groups still move from: safe to count as writing both owners. */
  let fencedIn = false;

  /** Follows the change under way: enter both-owner writes, or leave them once settled. */
  const follow = async (): Promise<void> => {
    const mine = cluster.version;
    const shards = options.config().shards;
    const names = new Set(shards.map((s) => s.name));
    /** Owning shards of `ring` this front door does not know (removed without draining). */
    const unknownOwners = (ring: Config['shards']): string[] => ring.filter((s) => !s.draining && !names.has(s.name)).map((s) => s.name);
    let record = await readRecord();
    const sameChange = (a: ChangeRecord, b: ChangeRecord): boolean => a.id === b.id || (a.from === b.from && a.to === b.to && a.base === b.base);
    if (record !== undefined && known?.settled === true && !record.settled && sameChange(known, record)) {
      // Put back unsettled (or recorded afresh) by a front door that had not seen it settle:
      // settling is for good.
      await client.set(recordKey, JSON.stringify(known));
      record = known;
    }
    if (record === undefined && known !== undefined) {
      const published = await readPublished();
      // A ring re-published after Redis lost everything carries no `closed`: that proves nothing.
      if (published?.closed !== undefined && published.closed !== known.base) {
        known = undefined; // closed, or other changes completed since: nothing to put back
      } else if (known.to === mine) {
        // Redis lost the record (and maybe the published ring) before the change completed: a
        // restart without persistence, an eviction. Put it back as it was, settled or not.
        warn(`the ring change record ${known.from} -> ${known.to} was missing from Redis: put back (give Redis persistence and noeviction)`);
        await client.set(recordKey, JSON.stringify(known), 'NX');
        record = await readRecord();
      } else {
        return; // behind a change it cannot see any more: keep what it does (and its fence)
      }
    }
    if (record === undefined) {
      const published = await readPublished();
      if (published === undefined) {
        await client.set(ringKey, JSON.stringify({ version: mine, shards } satisfies Published), 'NX');
      } else if (published.version !== mine && cluster.phase === 'steady') {
        const removed = unknownOwners(published.shards);
        // The ring of before the last change: a stale file while other front doors serve the
        // ring in force; a rollback by rolling restart once none has for a while.
        // Heartbeats missing because this front door (or Redis) was away prove nothing.
        if (published.version !== publishedSeen || Date.now() - lastFollowed > 3 * heartbeatMs) publishedServedAt = Date.now();
        publishedSeen = published.version;
        if ((await readBeats()).some((b) => b.version === published.version)) publishedServedAt = Date.now();
        const behind = published.previous === mine && Date.now() - publishedServedAt < (options.rollbackAfterMs ?? ROLLBACK_AFTER_MS);
        if (behind || removed.length > 0) {
          // Writing this ring would put pushes where nothing reads them. Refuse the pushes that
          // would go elsewhere; serve the others.
          warn(
            removed.length > 0
              ? `this front door's configuration removes shard(s) ${removed.join(', ')} without draining them first: pushes of their groups are refused; set draining: true on them, or restore them`
              : `this front door serves ring ${mine}, older than the ring in force (${published.version}): pushes of moved groups are refused until it loads that configuration`,
          );
          if (cluster.version === mine) cluster.fence = [ringOf(published.shards)];
          return;
        }
        // Started with a new ring (a restart with a new file): the groups that move must be
        // moved, so this is a change like a reload.
        record = await createRecord(published.shards, shards, published.closed);
      }
    }
    // Reloaded meanwhile: what was read no longer says what this front door should do.
    if (cluster.version !== mine) return;
    if (record === undefined) {
      cluster.fence = undefined;
      if (cluster.phase === 'dual') cluster.endTransition();
      return;
    }
    known = record;
    const from = ringOf(record.fromShards);
    const to = ringOf(record.toShards);
    if (record.to === mine) {
      const removed = record.settled ? [] : unknownOwners(record.fromShards);
      if (removed.length > 0 && !fencedIn) fencedSince = Date.now();
      fencedIn = removed.length > 0;
      if (fencedIn) {
        // It cannot write the old owners, which stay the authority until the change settles. It
        // writes no moving group at all, so it does not hold the change back.
        warn(`this front door's configuration removes shard(s) ${removed.join(', ')}, from which groups are still moving: pushes of moving groups are refused until the change settles; keep them (draining: true) until it completes`);
        cluster.fence = [from];
        if (cluster.phase === 'dual') cluster.endTransition();
        return;
      }
      cluster.fence = undefined;
      if (!record.settled && cluster.phase === 'steady') cluster.resumeTransition(from);
      if (record.settled && cluster.phase === 'dual') cluster.endTransition();
    } else if (record.settled) {
      // Its pushes would reach owners that no longer count: refuse those until it reloads.
      warn(`this front door serves ring ${mine}, older than the settled ring change to ${record.to}: pushes of moved groups are refused until it loads that configuration`);
      cluster.fence = [to];
    } else if (record.from !== mine) {
      // Neither the authority nor the new owner: what it writes elsewhere would be lost.
      warn(`this front door serves ring ${mine}, which is neither side of the change under way (${record.from} -> ${record.to}): pushes placed differently are refused; give it the configuration of ${record.to}`);
      cluster.fence = [from, to];
    } else {
      cluster.fence = undefined;
    }
  };
  let beats = 0;
  const beat = async (): Promise<void> => {
    await follow();
    lastFollowed = Date.now();
    // Heartbeats of front doors gone are dropped when read; read now and then even when idle.
    if (++beats % 60 === 0) await readBeats();
    const until = (await redisNow()) + heartbeatMs * 3;
    const state: Beat = fencedIn
      ? { version: cluster.version, phase: 'dual', dualReady: Date.now() - fencedSince > (options.lagMs ?? 0), until }
      : { version: cluster.version, phase: cluster.phase, dualReady: dualFor(cluster, options.lagMs ?? 0), until };
    await client.hset(beatsKey, id, JSON.stringify(state));
  };
  let beating: Promise<void> | undefined;
  const timer =
    options.beats === false
      ? undefined
      : setInterval(() => {
          beating ??= beat()
            .catch(() => undefined)
            .finally(() => (beating = undefined));
        }, heartbeatMs);
  timer?.unref();

  return {
    beat,
    start: beat,
    async state() {
      const record = await readRecord();
      if (record === undefined) return NO_CHANGE;
      const beats = await readBeats();
      const everyoneDual = beats.every((b) => isDualOn(b, record.to));
      const everyoneSteady = beats.every((b) => b.version === record.to && b.phase === 'steady');
      const phase: MigrationPhase = !record.settled ? 'copy' : everyoneSteady ? 'delete' : 'hold';
      return { id: record.id, phase, to: record.to, from: ringOf(record.fromShards), everyoneDual };
    },
    async settle(changeId) {
      const record = await readRecord();
      if (record?.id !== changeId || record.settled) return false;
      const beats = await readBeats();
      if (!beats.every((b) => isDualOn(b, record.to))) return false;
      await client.set(recordKey, JSON.stringify({ ...record, settled: true }));
      await beat();
      return true;
    },
    async close(changeId) {
      const record = await readRecord();
      if (record?.id !== changeId || !record.settled) return;
      await client.set(ringKey, JSON.stringify({ version: record.to, shards: record.toShards, previous: record.from, closed: record.id } satisfies Published));
      await client.del(recordKey);
    },
    async begin(previous, next) {
      const to = ringVersion(next.shards);
      let record = await readRecord();
      if (record === undefined) {
        const published = await readPublished();
        // Already the ring in force (this front door was behind, fenced): nothing moves.
        if (published?.version === to) return { catchUp: true };
        // The change starts from the ring in force, whatever this front door served.
        record = await createRecord(published?.shards ?? previous.shards, next.shards, published?.closed);
      }
      known = record;
      if (record.to !== to) return { refused: stillApplying(record.to) };
      return record.settled ? { catchUp: true } : { from: record.fromShards };
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      // A beat still running would write the heartbeat back after it is removed.
      await beating;
      await client.hdel(beatsKey, id).catch(() => undefined);
    },
  };
}
