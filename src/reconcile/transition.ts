/**
 * The I/O around the ring-change state machine (core/ring-change.ts; docs/resizing.md): reads
 * what the change store holds, asks the machine what to do, writes what it says and puts the
 * routing it decides in force on the cluster. One implementation for both stores: Redis when
 * front doors share one, memory for a lone front door.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster as RedisCluster, Redis } from 'ioredis';
import { ringVersion, type Cluster } from '../backends/cluster.js';
import type { Config } from '../config/schema.js';
import {
  beatOf,
  closeRecord,
  decideBegin,
  decideFollow,
  initialMemory,
  NO_CHANGE_VIEW,
  ROLLBACK_AFTER_MS,
  settleRecord,
  viewChange,
  type Begun,
  type ChangeView,
  type ChangeRecord,
  type FollowMemory,
  type StoreWrite,
} from '../core/ring-change.js';
import { ringOf, type Ring } from '../core/ring.js';
import { createMemoryChangeStore, createRedisChangeStore, type ChangeStore } from './change-store.js';

export type { Begun, ChangeRecord } from '../core/ring-change.js';

/** The change under way as the reconciler carries it out: core's view, with the ring it comes from built. */
export type TransitionState = Omit<ChangeView, 'fromShards'> & { readonly from: Ring | undefined };

export const NO_CHANGE: TransitionState = {
  id: NO_CHANGE_VIEW.id,
  phase: NO_CHANGE_VIEW.phase,
  to: NO_CHANGE_VIEW.to,
  from: undefined,
  everyoneDual: NO_CHANGE_VIEW.everyoneDual,
};

export interface Transition {
  state(): Promise<TransitionState>;
  /** Every moved group is on its owner: front doors may stop writing the old owners. True when done. */
  settle(id: string): Promise<boolean>;
  /** No stray copy is left: the change is complete. */
  close(id: string): Promise<void>;
  /**
   * Before a reloaded ring is applied: records the change (or joins the one recorded for the same
   * ring). `refused`: why the ring must wait; `catchUp`: the ring is already in force everywhere
   * else (this front door was behind), so it is applied without a change. After applying the ring,
   * `beat()` puts the routing the change implies in force.
   */
  begin(previous: Readonly<Config>, next: Readonly<Config>): Promise<Begun>;
  /** Follows the change under way once (the routing of the cluster) and publishes a heartbeat. */
  beat(): Promise<void>;
  /** Joins the change under way, if any, before the front door takes pushes. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface TransitionOptions {
  readonly store: ChangeStore;
  readonly cluster: Cluster;
  /** Told when the front door cannot follow the change under way (each message once in a row). */
  readonly warn?: (message: string) => void;
  /** Beat every heartbeatMs on a timer (front doors sharing Redis); false: only when called. */
  readonly beats?: boolean;
  readonly heartbeatMs?: number;
  /** How long a push may take (core/ring-change.ts pushLagMs). */
  readonly lagMs?: number;
  /** How long no front door must serve the published ring before one on the ring before it rolls back. */
  readonly rollbackAfterMs?: number;
  /**
   * Beat before every read of the change (a lone front door: its own heartbeat is then the live
   * state of its cluster, as no timer refreshes it).
   */
  readonly beatBeforeReading?: boolean;
}

export function createTransition(options: TransitionOptions): Transition {
  const { store, cluster } = options;
  const heartbeatMs = options.heartbeatMs ?? 1_000;
  const lagMs = options.lagMs ?? 0;
  const id = randomUUID();
  let memory: FollowMemory = initialMemory(Date.now());
  let lastWarning: string | undefined;
  const warn = (message: string): void => {
    if (message !== lastWarning) options.warn?.(message);
    lastWarning = message;
  };

  const write = async (w: StoreWrite): Promise<void> => {
    if (w.kind === 'record') return store.writeRecord(w.record, w.onlyIfAbsent);
    if (w.kind === 'publish') return store.publish(w.published, true);
    // The first front door to load the ring records the change; the others join it.
    const record: ChangeRecord = {
      id: randomUUID(),
      from: ringVersion(w.fromShards),
      to: ringVersion(w.toShards),
      fromShards: w.fromShards,
      toShards: w.toShards,
      settled: false,
      ...(w.base === undefined ? {} : { base: w.base }),
    };
    return store.writeRecord(record, true);
  };

  /** A bound on steps per follow: each write that asks for another look is followed by one. */
  const MAX_STEPS = 4;
  const follow = async (): Promise<void> => {
    const mine = cluster.version;
    const shards = cluster.shardConfigs;
    for (let step = 0; step < MAX_STEPS; step++) {
      // The record before the published ring: a change closes by publishing, then deleting the
      // record, so no record means the ring read next is the one it published (keys may live on
      // different Redis Cluster nodes, where parallel reads keep no order).
      const record = await store.readRecord();
      const [published, beats] = await Promise.all([store.readPublished(), store.readBeats()]);
      const decision = decideFollow({
        now: Date.now(),
        mine,
        shards,
        mode: cluster.phase,
        record,
        published,
        publishedServed: published !== undefined && beats.some((b) => b.version === published.version),
        memory,
        heartbeatMs,
        rollbackAfterMs: options.rollbackAfterMs ?? ROLLBACK_AFTER_MS,
      });
      memory = decision.memory;
      if (decision.warning !== undefined) warn(decision.warning);
      for (const w of decision.writes) await write(w);
      if (decision.again) continue;
      // Reloaded meanwhile: what was read no longer says what this front door should do.
      if (decision.routing !== undefined && cluster.version === mine) cluster.follow(decision.routing);
      return;
    }
    warn(`the ring change record kept changing under this front door for ${MAX_STEPS} steps; it keeps what it does until the next heartbeat`);
  };

  const beat = async (): Promise<void> => {
    await follow();
    memory = { ...memory, lastFollowed: Date.now() };
    const until = (await store.now()) + heartbeatMs * 3;
    await store.writeBeat(id, beatOf({ version: cluster.version, mode: cluster.phase, dualSince: cluster.dualSince, memory, now: Date.now(), lagMs, until }));
  };
  let beating: Promise<void> | undefined;
  const beatOnce = (): Promise<void> =>
    (beating ??= beat().finally(() => {
      beating = undefined;
    }));
  const timer =
    options.beats === true
      ? setInterval(() => {
          void beatOnce().catch(() => undefined);
        }, heartbeatMs)
      : undefined;
  timer?.unref();
  /** A beat that starts after this call: one in flight may have read the store before a change. */
  const beatAfresh = async (): Promise<void> => {
    await beating?.catch(() => undefined);
    await beatOnce();
  };
  const fresh = async (): Promise<void> => {
    if (options.beatBeforeReading === true) await beatAfresh();
  };

  return {
    beat: beatAfresh,
    start: beatAfresh,
    async state() {
      await fresh();
      const [record, beats] = await Promise.all([store.readRecord(), store.readBeats()]);
      const view = viewChange(record, beats);
      if (view.id === undefined) return NO_CHANGE;
      return {
        id: view.id,
        phase: view.phase,
        to: view.to,
        from: view.fromShards === undefined ? undefined : ringOf(view.fromShards),
        everyoneDual: view.everyoneDual,
      };
    },
    async settle(changeId) {
      await fresh();
      const [record, beats] = await Promise.all([store.readRecord(), store.readBeats()]);
      const settled = settleRecord(record, beats, changeId);
      if (settled === undefined) return false;
      await store.writeRecord(settled, false);
      await beatAfresh();
      return true;
    },
    async close(changeId) {
      const published = closeRecord(await store.readRecord(), changeId);
      if (published === undefined) return;
      await store.publish(published, false);
      await store.deleteRecord();
    },
    async begin(previous, next) {
      const to = ringVersion(next.shards);
      for (let step = 0; step < MAX_STEPS; step++) {
        const [record, published] = await Promise.all([store.readRecord(), store.readPublished()]);
        const decision = decideBegin({ record, published, to, previous: previous.shards, next: next.shards });
        if ('create' in decision) {
          await write({ kind: 'create', ...decision.create });
          continue;
        }
        if (decision.known !== undefined) memory = { ...memory, known: decision.known };
        return decision.answer;
      }
      throw new Error('the ring change record could not be written (it disappeared as soon as it was written)');
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      // A beat still running would write the heartbeat back after it is removed.
      await beating?.catch(() => undefined);
      await store.removeBeat(id).catch(() => undefined);
    },
  };
}

/** A lone front door: the change lives in this process. `lagMs`: see core/ring-change.ts pushLagMs. */
export function createLocalTransition(cluster: Cluster, lagMs: number): Transition {
  return createTransition({ store: createMemoryChangeStore(), cluster, lagMs, beatBeforeReading: true });
}

export interface RedisTransitionOptions {
  readonly client: Redis | RedisCluster;
  readonly keyPrefix: string;
  readonly cluster: Cluster;
  readonly warn: (message: string) => void;
  /** Publish a heartbeat every heartbeatMs (front doors); false for a one-off `pushring reconcile`. */
  readonly beats?: boolean;
  readonly heartbeatMs?: number;
  readonly lagMs?: number;
  readonly rollbackAfterMs?: number;
}

/** Front doors sharing one Redis. */
export function createRedisTransition(options: RedisTransitionOptions): Transition {
  const { client, keyPrefix, beats, ...rest } = options;
  return createTransition({ ...rest, store: createRedisChangeStore(client, keyPrefix), beats: beats !== false });
}
