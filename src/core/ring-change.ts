/**
 * The ring change across front doors as a pure state machine (docs/resizing.md). No I/O: the
 * functions here take what one actor knows — the change record, the published ring, the live
 * heartbeats, its own ring, its memory of earlier steps — and say what it does. The record store
 * (Redis, or memory for a lone front door) and the cluster are driven by src/reconcile/transition.ts.
 *
 * One vocabulary:
 * - a change's **phase**: `none` (no change recorded), `copy` (recorded, not settled: the old
 *   owner is the authority and moving groups are copied to the new one), `hold` (settled, some
 *   live front door still writes both owners), `delete` (settled, every live front door writes the
 *   new owners alone: stray copies go);
 * - a front door's **write mode**: `steady` (each group to its owner under the ring it serves) or
 *   `dual` (a moving group to its old owner first, then its new one) — dual while it serves the new
 *   ring of a change that has not settled.
 */
import type { ShardConfig } from '../config/schema.js';

export type ChangePhase = 'none' | 'copy' | 'hold' | 'delete';
export type WriteMode = 'steady' | 'dual';
type Shards = readonly ShardConfig[];

/** The change under way (`<prefix>transition` in Redis). */
export interface ChangeRecord {
  readonly id: string;
  /** Versions of the rings it goes from and to (see ringVersion). */
  readonly from: string;
  readonly to: string;
  readonly fromShards: Shards;
  readonly toShards: Shards;
  readonly settled: boolean;
  /** The change that made the ring it comes from (the published ring's `closed`). */
  readonly base?: string;
}

/** The ring in force when no change is under way, and the one before it (`<prefix>ring`). */
export interface Published {
  readonly version: string;
  readonly shards: Shards;
  readonly previous?: string;
  /** The id of the change that made this ring the one in force. */
  readonly closed?: string;
}

/** One front door's heartbeat. */
export interface Beat {
  readonly version: string;
  readonly phase: WriteMode;
  /** Dual for longer than a push can take (see dualReady). */
  readonly dualReady: boolean;
  /** The store's clock (ms) after which this front door counts as gone. */
  readonly until: number;
  /**
   * Versions of the rings by which it refuses every push they would place elsewhere than its
   * own ring does, for longer than the lag (see beatOf); absent: none.
   */
  readonly fencedBy?: readonly string[];
}

/** How long no front door must serve the published ring before one on the ring before it rolls back. */
export const ROLLBACK_AFTER_MS = 30_000;

/**
 * How long after a front door switches its writes every push routed the old way has landed: a
 * write is bounded by its time-out, plus a margin. Also how long a replaced replica's connections
 * stay open for the writes in flight.
 */
export function pushLagMs(writeTimeoutMs: number): number {
  return writeTimeoutMs + 1_000;
}

/** Owning shards of `ring` that a configuration naming `known` lacks: removed without draining. */
export function undrainedRemovals(ring: Shards, known: ReadonlySet<string>): string[] {
  return ring.filter((s) => !s.draining && !known.has(s.name)).map((s) => s.name);
}

/** The same change: one id, or recorded afresh from the same rings and base. */
export function isSameChange(a: ChangeRecord, b: ChangeRecord): boolean {
  return a.id === b.id || (a.from === b.from && a.to === b.to && a.base === b.base);
}

/**
 * It writes both owners of every moving group of the change, or writes no moving group at all:
 * one whose own ring and fences place every group it writes alike under both rings of the change
 * (fenced for lack of a shard groups move from, or serving neither ring) refuses every group
 * whose owner changes.
 */
function writesBoth(b: Beat, change: ChangeRecord): boolean {
  if (b.version === change.to && b.phase === 'dual' && b.dualReady) return true;
  const honoured = [b.version, ...(b.fencedBy ?? [])];
  return honoured.includes(change.from) && honoured.includes(change.to);
}

/** It writes every group to its owner under the change's new ring alone: no stray copy can appear. */
const writesNewOnly = (b: Beat, change: ChangeRecord): boolean => b.phase === 'steady' && (b.version === change.to || (b.fencedBy ?? []).includes(change.to));

/** The change as the reconciler sees it. */
export interface ChangeView {
  readonly id: string | undefined;
  readonly phase: ChangePhase;
  readonly to: string | undefined;
  readonly fromShards: Shards | undefined;
  /** Every live front door has served the new ring, writing both owners, for longer than the lag. */
  readonly everyoneDual: boolean;
}

export const NO_CHANGE_VIEW: ChangeView = { id: undefined, phase: 'none', to: undefined, fromShards: undefined, everyoneDual: false };

export function viewChange(record: ChangeRecord | undefined, beats: readonly Beat[]): ChangeView {
  if (record === undefined) return NO_CHANGE_VIEW;
  const everyoneSteady = beats.every((b) => writesNewOnly(b, record));
  const phase: ChangePhase = !record.settled ? 'copy' : everyoneSteady ? 'delete' : 'hold';
  return { id: record.id, phase, to: record.to, fromShards: record.fromShards, everyoneDual: beats.every((b) => writesBoth(b, record)) };
}

/** The record to store when change `id` settles, or undefined when it may not (yet). */
export function settleRecord(record: ChangeRecord | undefined, beats: readonly Beat[], id: string): ChangeRecord | undefined {
  if (record?.id !== id || record.settled) return undefined;
  return beats.every((b) => writesBoth(b, record)) ? { ...record, settled: true } : undefined;
}

/** The ring to publish when change `id` closes (no stray copy left), or undefined. */
export function closeRecord(record: ChangeRecord | undefined, id: string): Published | undefined {
  if (record?.id !== id || !record.settled) return undefined;
  return { version: record.to, shards: record.toShards, previous: record.from, closed: record.id };
}

/** What a reload to ring `to` is answered: wait, apply without a change, or apply in the change from `from`. */
export type Begun = { readonly refused: string } | { readonly catchUp: true } | { readonly from: Shards };

export type BeginStep =
  /** Record the change (only if none is recorded meanwhile), then decide again. */
  | { readonly create: { readonly fromShards: Shards; readonly toShards: Shards; readonly base: string | undefined } }
  | { readonly answer: Begun; readonly known?: ChangeRecord };

export const stillApplying = (version: string): string =>
  `the ring change to ${version} is still being applied; this one is applied once it completes (pushring_ring_change_phase{phase="none"})`;

/**
 * A reload to `next` (version `to`) of a front door serving `previous`: a change always starts
 * from the published ring, whatever this front door served.
 */
export function decideBegin(k: { record: ChangeRecord | undefined; published: Published | undefined; to: string; previous: Shards; next: Shards }): BeginStep {
  const { record, published, to } = k;
  if (record === undefined) {
    // Already the ring in force (this front door was behind, fenced): nothing moves.
    if (published?.version === to) return { answer: { catchUp: true } };
    return { create: { fromShards: published?.shards ?? k.previous, toShards: k.next, base: published?.closed } };
  }
  if (record.to !== to) return { answer: { refused: stillApplying(record.to) }, known: record };
  return { answer: record.settled ? { catchUp: true } : { from: record.fromShards }, known: record };
}

/** What a front door remembers between its steps. */
export interface FollowMemory {
  /** The last change record seen: put back if the store loses it before the change completes. */
  readonly known: ChangeRecord | undefined;
  /** When a live front door was last seen serving the published ring (see `behind`), and which ring. */
  readonly publishedServedAt: number;
  readonly publishedSeen: string | undefined;
  /** When the previous follow completed. */
  readonly lastFollowed: number;
  /** The rings its routing fences by (versions), set while it serves ring `mine`, since when. */
  readonly fence: { readonly mine: string; readonly by: readonly string[]; readonly since: number } | undefined;
}

export const initialMemory = (now: number): FollowMemory => ({
  known: undefined,
  publishedServedAt: now,
  publishedSeen: undefined,
  lastFollowed: now,
  fence: undefined,
});

/** What one front door knows when it follows the change. */
export interface FollowInput {
  readonly now: number;
  /** The version of the ring this front door serves, and its configuration's shards. */
  readonly mine: string;
  readonly shards: Shards;
  readonly mode: WriteMode;
  readonly record: ChangeRecord | undefined;
  readonly published: Published | undefined;
  /** Some live front door serves the published ring. */
  readonly publishedServed: boolean;
  readonly memory: FollowMemory;
  readonly heartbeatMs: number;
  readonly rollbackAfterMs: number;
}

/** How a front door writes: its mode, and the rings under which a push placed differently is refused. */
export interface Routing {
  /** `dual` carries the ring the change comes from; undefined: keep the mode it has. */
  readonly mode: { readonly kind: 'steady' } | { readonly kind: 'dual'; readonly from: Shards } | undefined;
  /** Undefined: nothing is refused. */
  readonly fence: readonly Shards[] | undefined;
}

export type StoreWrite =
  | { readonly kind: 'record'; readonly record: ChangeRecord; readonly onlyIfAbsent: boolean }
  | { readonly kind: 'publish'; readonly published: Published }
  | { readonly kind: 'create'; readonly fromShards: Shards; readonly toShards: Shards; readonly base: string | undefined };

export interface FollowStep {
  readonly memory: FollowMemory;
  /** Written to the store, in order. */
  readonly writes: readonly StoreWrite[];
  /** After the writes: read the store again and take another step. */
  readonly again: boolean;
  /** Applied to the cluster (when it still serves `mine`); undefined: keep what it does. */
  readonly routing: Routing | undefined;
  readonly warning?: string;
}

/**
 * One step of following the change under way: enter both-owner writes, leave them once settled,
 * fence what this front door would misplace, or start the change its own ring implies.
 * Every branch is a row of test/unit/ring-change.test.ts.
 */
export function decideFollow(k: FollowInput): FollowStep {
  const { mine, record, published, now } = k;
  let memory = k.memory;
  const { known } = memory;
  const names = new Set(k.shards.map((s) => s.name));
  const keep = (extra: Partial<FollowStep> = {}): FollowStep => ({ memory, writes: [], again: false, routing: undefined, ...extra });
  /** A routing to put in force, fenced by the rings of versions `by` (none: undefined), remembered with since when. */
  const route = (routing: Routing, by: readonly string[] | undefined, extra: Partial<FollowStep> = {}): FollowStep => {
    const same = memory.fence !== undefined && memory.fence.mine === mine && memory.fence.by.join() === by?.join();
    if (!same) memory = { ...memory, fence: by === undefined ? undefined : { mine, by, since: now } };
    return keep({ routing, ...extra });
  };

  if (record !== undefined && known?.settled === true && !record.settled && isSameChange(known, record)) {
    // Put back unsettled (or recorded afresh) by a front door that had not seen it settle:
    // settling is for good.
    return keep({ writes: [{ kind: 'record', record: known, onlyIfAbsent: false }], again: true });
  }
  if (record === undefined && known !== undefined) {
    // A ring re-published after the store lost everything carries no `closed`: that proves nothing.
    if (published?.closed !== undefined && published.closed !== known.base) {
      memory = { ...memory, known: undefined }; // closed, or other changes completed since
    } else if (known.to === mine) {
      // The store lost the record before the change completed (a restart without persistence, an
      // eviction): put it back as it was, settled or not.
      return keep({
        writes: [{ kind: 'record', record: known, onlyIfAbsent: true }],
        again: true,
        warning: `the ring change record ${known.from} -> ${known.to} was missing from Redis: put back (give Redis persistence and noeviction)`,
      });
    } else {
      return keep(); // behind a change it cannot see any more: keep what it does (and its fence)
    }
  }

  if (record === undefined) {
    if (published === undefined)
      return route({ mode: { kind: 'steady' }, fence: undefined }, undefined, {
        writes: [{ kind: 'publish', published: { version: mine, shards: k.shards } }],
      });
    if (published.version !== mine && k.mode === 'steady') {
      const removed = undrainedRemovals(published.shards, names);
      // The ring of before the last change: a stale file while other front doors serve the ring
      // in force; a rollback by rolling restart once none has for a while. Heartbeats missing
      // because this front door (or the store) was away prove nothing.
      const away = published.version !== memory.publishedSeen || now - memory.lastFollowed > 3 * k.heartbeatMs;
      memory = { ...memory, publishedSeen: published.version, publishedServedAt: away || k.publishedServed ? now : memory.publishedServedAt };
      const behind = published.previous === mine && now - memory.publishedServedAt < k.rollbackAfterMs;
      if (behind || removed.length > 0) {
        // Writing this ring would put pushes where nothing reads them: refuse the pushes that
        // would go elsewhere, serve the others.
        return route({ mode: { kind: 'steady' }, fence: [published.shards] }, [published.version], {
          warning:
            removed.length > 0
              ? `this front door's configuration removes shard(s) ${removed.join(', ')} without draining them first: pushes of their groups are refused; set draining: true on them, or restore them`
              : `this front door serves ring ${mine}, older than the ring in force (${published.version}): pushes of moved groups are refused until it loads that configuration`,
        });
      }
      // Started with a new ring (a restart with a new file): the groups that move must be moved,
      // so this is a change like a reload.
      return keep({ writes: [{ kind: 'create', fromShards: published.shards, toShards: k.shards, base: published.closed }], again: true });
    }
    return route({ mode: { kind: 'steady' }, fence: undefined }, undefined);
  }

  memory = { ...memory, known: record };
  if (record.to === mine) {
    const removed = record.settled ? [] : undrainedRemovals(record.fromShards, names);
    if (removed.length > 0) {
      // It cannot write the old owners, which stay the authority until the change settles. It
      // writes no moving group at all, so it does not hold the change back (writesBoth).
      return route({ mode: { kind: 'steady' }, fence: [record.fromShards] }, [record.from], {
        warning: `this front door's configuration removes shard(s) ${removed.join(', ')}, from which groups are still moving: pushes of moving groups are refused until the change settles; keep them (draining: true) until it completes`,
      });
    }
    return route({ mode: record.settled ? { kind: 'steady' } : { kind: 'dual', from: record.fromShards }, fence: undefined }, undefined);
  }
  if (record.settled) {
    // Its pushes would reach owners that no longer count: refuse those until it reloads. It
    // then writes no stray copy, so the stray copies may go (writesNewOnly).
    return route({ mode: undefined, fence: [record.toShards] }, [record.to], {
      warning: `this front door serves ring ${mine}, older than the settled ring change to ${record.to}: pushes of moved groups are refused until it loads that configuration`,
    });
  }
  if (record.from !== mine) {
    // Neither the authority nor the new owner: what it writes elsewhere would be lost. It writes
    // no moving group, so it does not hold the change back (writesBoth).
    return route({ mode: undefined, fence: [record.fromShards, record.toShards] }, [record.from, record.to], {
      warning: `this front door serves ring ${mine}, which is neither side of the change under way (${record.from} -> ${record.to}): pushes placed differently are refused; give it the configuration of ${record.to}`,
    });
  }
  return route({ mode: undefined, fence: undefined }, undefined);
}

/**
 * The heartbeat a front door publishes. Its fences count once they have been in force for longer
 * than the lag (pushes routed before them have landed), and only while it serves the ring they
 * were set for.
 */
export function beatOf(k: {
  version: string;
  mode: WriteMode;
  dualSince: number | undefined;
  memory: FollowMemory;
  now: number;
  lagMs: number;
  until: number;
}): Beat {
  const { fence } = k.memory;
  const fencedBy = fence !== undefined && fence.mine === k.version && k.now - fence.since > k.lagMs ? fence.by : undefined;
  return {
    version: k.version,
    phase: k.mode,
    dualReady: dualReady(k.dualSince, k.now, k.lagMs),
    until: k.until,
    ...(fencedBy === undefined ? {} : { fencedBy }),
  };
}

/** Writing both owners for longer than `lagMs`: pushes routed by the old ring alone have landed. */
export function dualReady(dualSince: number | undefined, now: number, lagMs: number): boolean {
  return dualSince !== undefined && now - dualSince > lagMs;
}

/**
 * The routing a reload's answer implies, put in force with the new ring (a step of decideFollow
 * follows at once and confirms it): catch up writes the ring alone; a change under way writes
 * both owners from its authority, unless the new configuration (shard names `known`) lacks an
 * undrained shard groups move from, which fences them as decideFollow does.
 */
export function routingAfterBegin(begun: Begun, known: ReadonlySet<string>): Routing | undefined {
  if ('refused' in begun) return undefined;
  if ('catchUp' in begun) return { mode: { kind: 'steady' }, fence: undefined };
  if (undrainedRemovals(begun.from, known).length > 0) return { mode: { kind: 'steady' }, fence: [begun.from] };
  return { mode: { kind: 'dual', from: begun.from }, fence: undefined };
}
