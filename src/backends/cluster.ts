/**
 * The shards of a configuration: one Backend per replica URL, grouped by shard, placed on the
 * ring by shard name so that replacing a replica's URL or client settings moves no groups.
 */
import { createHash } from 'node:crypto';
import type { Config, ShardConfig } from '../config/schema.js';
import { pushLagMs, type Routing, type WriteMode } from '../core/ring-change.js';
import { resolveReplicas, type ResolvedReplica } from '../core/replicas.js';
import { ringOf, type Ring } from '../core/ring.js';
import { authoritativeShard } from '../core/read-merge.js';
import { PAGE_READS } from '../read/gate.js';
import { Backend, readConnectOptions, type HealthListener, type ScrapeListener } from './client.js';

export interface Shard {
  readonly name: string;
  /** Its replicas, in configuration order (replica "0", "1", …). */
  readonly backends: readonly Backend[];
}

export interface Cluster {
  /** The ring in force; replaced as a whole by applyRing. */
  readonly ring: Ring;
  /** A short hash of the ring in force (its owning shards and weights). */
  readonly version: string;
  /** How a moving group is written (core/ring-change.ts): `dual` while a ring change is applied. */
  readonly phase: WriteMode;
  /** The configuration's shards in force, draining ones included. */
  readonly shardConfigs: readonly ShardConfig[];
  /** Every shard of the configuration, draining ones included. */
  readonly shards: ReadonlyMap<string, Shard>;
  readonly backends: readonly Backend[];
  /** The shard that owns a canonical grouping key. */
  ownerOf(canonicalKey: string): Shard;
  /** In the dual phase, the key's owner under the previous ring when it differs; else undefined. */
  previousOwnerOf(canonicalKey: string): Shard | undefined;
  /** In the dual phase, since when (ms since the epoch); else undefined. */
  readonly dualSince: number | undefined;
  /**
   * The shard whose copy of a group reads show (core/read-merge.ts authoritativeShard), by the
   * rings in force now: a read takes it once, when it opens its replicas, so that the ring
   * changing during a long answer does not change which copy it shows.
   */
  readAuthority(): (canonicalKey: string) => string;
  /**
   * Puts a new configuration's shards in force and enters the dual phase. Replicas whose shard,
   * position and URL are unchanged keep their Backend (connections, health); removed ones are
   * closed once in-flight writes are done.
   */
  applyRing(config: Readonly<Config>): void;
  /**
   * Takes the write mode and fence the ring-change state machine decided (core/ring-change.ts
   * `decideFollow`, or a reload's `Begun`): entering dual keeps an earlier start, leaving it
   * writes the new owners only.
   */
  follow(routing: Routing): void;
  /**
   * Derived from the last `follow`: the rings under which this front door's ring cannot be written
   * safely (behind the ring in force, a shard removed without draining, neither side of the change
   * under way). A push whose owner differs under any of them is refused.
   */
  readonly fence: readonly Ring[] | undefined;
  /** Told when any replica, present or future, is found up or down. */
  onHealthChange(listener: HealthListener): void;
  /** Told when the scrape of any replica, present or future, changes state (client.ts ScrapeState). */
  onScrapeChange(listener: ScrapeListener): void;
  /** health.scrapeIntervalMs of the configuration the cluster was created with (0: never probed). */
  readonly scrapeIntervalMs: number;
  /** True when every owning shard has at least one replica believed up. */
  ready(): boolean;
  /** Owning shards with no replica believed up. */
  unavailableShards(): string[];
  /** Probes every replica once, in parallel. */
  probeAll(): Promise<void>;
  /** Probes every replica's scrape once, in parallel. */
  probeScrapes(): Promise<void>;
  close(): Promise<void>;
}

export function createCluster(config: Readonly<Config>): Cluster {
  const listeners: HealthListener[] = [];
  const scrapeListeners: ScrapeListener[] = [];
  const byKey = new Map<string, Backend>();
  const makeBackend = (c: Readonly<Config>, shard: string, shardIndex: number, i: number, replica: ResolvedReplica): Backend => {
    const backend = new Backend({
      shard,
      replica: String(i),
      url: replica.url,
      client: replica.client,
      shardIndex,
      secretsReloadMs: c.auth.secretsReloadSeconds * 1000,
      connections: c.write.connectionsPerBackend,
      // Two for each read of every group at once, and the page's own (read/gate.ts).
      readConnections: 2 * c.server.maxConcurrentReads + PAGE_READS,
      connectTimeoutMs: c.write.connectTimeoutMs,
      timeoutMs: c.write.timeoutMs,
      probeTimeoutMs: c.health.timeoutMs,
      upAfterProbes: c.health.upAfterProbes,
    });
    backend.onHealthChange((b, up, reason) => {
      for (const listener of listeners) listener(b, up, reason);
    });
    backend.onScrapeChange((b, scrape, reason) => {
      for (const listener of scrapeListeners) listener(b, scrape, reason);
    });
    return backend;
  };

  let state = build(config, byKey, makeBackend);
  let previous: Ring | undefined;
  /** The version of `previous` (its owners and weights: replica URLs do not place groups). */
  let previousVersion = '';
  let dualSince = 0;
  let fence: readonly Ring[] | undefined;
  /** The shards `fence` was built from, to rebuild it only when they change. */
  let fencedBy = '';

  return {
    get ring() {
      return state.ring;
    },
    get version() {
      return state.version;
    },
    get phase() {
      return previous === undefined ? 'steady' : 'dual';
    },
    get shards() {
      return state.shards;
    },
    get shardConfigs() {
      return state.configs;
    },
    get backends() {
      return state.backends;
    },
    get fence() {
      return fence;
    },
    get dualSince() {
      return previous === undefined ? undefined : dualSince;
    },
    ownerOf(canonicalKey) {
      return state.shards.get(state.ring.ownerOf(canonicalKey))!;
    },
    readAuthority() {
      const [ring, before] = [state.ring, previous];
      return (canonicalKey) => {
        const owner = ring.ownerOf(canonicalKey);
        const old = before?.ownerOf(canonicalKey);
        return authoritativeShard(owner, old === owner ? undefined : old);
      };
    },
    previousOwnerOf(canonicalKey) {
      if (previous === undefined) return undefined;
      const before = previous.ownerOf(canonicalKey);
      return before === state.ring.ownerOf(canonicalKey) ? undefined : state.shards.get(before);
    },
    applyRing(next) {
      const old = state;
      state = build(next, byKey, makeBackend);
      // The oldest ring still written to stays the previous one until the transition ends.
      if (old.version !== state.version && previous === undefined) [previous, previousVersion, dualSince] = [old.ring, old.version, Date.now()];
      const kept = new Set(state.backends);
      for (const [key, backend] of byKey) {
        if (kept.has(backend)) continue;
        byKey.delete(key);
        // Writes in flight finish first (each is bounded by its time-out).
        setTimeout(() => void backend.close(), pushLagMs(next.write.timeoutMs)).unref();
      }
    },
    follow(routing) {
      const { mode } = routing;
      if (mode?.kind === 'steady') previous = undefined;
      if (mode?.kind === 'dual') {
        // The authority is the ring the change comes from, which may not be the one this front
        // door served before (it may have been behind). Switching it starts the lag afresh.
        const version = ringVersion(mode.from);
        if (previous === undefined || version !== previousVersion) [previous, previousVersion, dualSince] = [ringOf(mode.from), version, Date.now()];
      }
      const by = JSON.stringify(routing.fence ?? null);
      if (by !== fencedBy) [fence, fencedBy] = [routing.fence?.map((shards) => ringOf(shards)), by];
    },
    onHealthChange(listener) {
      listeners.push(listener);
    },
    onScrapeChange(listener) {
      scrapeListeners.push(listener);
    },
    scrapeIntervalMs: config.health.scrapeIntervalMs,
    ready: () => unavailable(state).length === 0,
    unavailableShards: () => unavailable(state),
    async probeAll() {
      await Promise.all(state.backends.map((b) => b.probe()));
    },
    async probeScrapes() {
      await Promise.all(state.backends.map((b) => b.probeScrape()));
    },
    async close() {
      await Promise.all([...byKey.values()].map((b) => b.close()));
    },
  };
}

interface ClusterState {
  readonly configs: readonly ShardConfig[];
  readonly ring: Ring;
  readonly version: string;
  readonly shards: ReadonlyMap<string, Shard>;
  readonly backends: readonly Backend[];
}

function build(
  config: Readonly<Config>,
  byKey: Map<string, Backend>,
  makeBackend: (c: Readonly<Config>, shard: string, shardIndex: number, i: number, replica: ResolvedReplica) => Backend,
): ClusterState {
  // Draining shards own nothing: their replicas stay known (probed, scraped, reconciled) so that
  // their groups can be moved off them, but no push is placed on them.
  const ring = ringOf(config.shards);
  const shards = new Map<string, Shard>();
  const backends: Backend[] = [];
  // Every new Backend is made before any is kept, so that a client file that cannot be read
  // leaves the ring in force untouched (and no half-built pools behind).
  const made = new Map<string, Backend>();
  try {
    config.shards.forEach((shard, s) => {
      const members = resolveReplicas(shard, s).map((replica, i) => {
        // Client settings are part of the key: changed ones get fresh connections (and files read again).
        const key = `${shard.name}\u0000${i}\u0000${replica.url}\u0000${JSON.stringify(replica.client)}`;
        let backend = byKey.get(key) ?? made.get(key);
        if (backend === undefined) made.set(key, (backend = makeBackend(config, shard.name, s, i, replica)));
        return backend;
      });
      backends.push(...members);
      shards.set(shard.name, { name: shard.name, backends: members });
    });
  } catch (err) {
    for (const backend of made.values()) void backend.close();
    throw err;
  }
  for (const [key, backend] of made) byKey.set(key, backend);
  return { configs: config.shards, ring, version: ringVersion(config.shards), shards, backends };
}

/**
 * The client files of every replica that cannot be read, one message each (naming the setting
 * and the file): what `check-config` reports, and what a reload can check before it commits to a
 * ring whose Backends could not be made.
 */
export function checkBackendClients(config: Pick<Readonly<Config>, 'shards'>): string[] {
  const problems = new Set<string>();
  config.shards.forEach((shard, s) => {
    for (const replica of resolveReplicas(shard, s)) {
      try {
        readConnectOptions(replica.client);
      } catch (err) {
        problems.add((err as Error).message);
      }
    }
  });
  return [...problems];
}

/** A short, stable name for the ownership a ring defines: its owning shards and their weights. */
export function ringVersion(shards: readonly ShardConfig[]): string {
  const owners = shards
    .filter((s) => !s.draining)
    .map((s) => `${s.name}:${s.weight}`)
    .sort();
  return createHash('sha256').update(owners.join(',')).digest('hex').slice(0, 12);
}

function unavailable(state: ClusterState): string[] {
  const owners = new Set(state.ring.shards);
  return [...state.shards.values()].filter((s) => owners.has(s.name) && !s.backends.some((b) => b.up)).map((s) => s.name);
}

/**
 * Probes every replica's `/-/healthy` every `intervalMs`, and its scrape every `scrapeIntervalMs`
 * (the first round at once: a replica broken before this front door started is found soon), on
 * two schedules of their own; a round still running delays the next of its kind.
 */
export function startHealthChecks(cluster: Cluster, intervalMs: number, scrapeIntervalMs = cluster.scrapeIntervalMs): { stop(): void } {
  const health = repeat(() => cluster.probeAll(), intervalMs, intervalMs);
  const scrapes = scrapeIntervalMs > 0 ? repeat(() => cluster.probeScrapes(), 0, scrapeIntervalMs) : undefined;
  return {
    stop() {
      health.stop();
      scrapes?.stop();
    },
  };
}

function repeat(round: () => Promise<void>, firstMs: number, intervalMs: number): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = async (): Promise<void> => {
    await round();
    if (!stopped) timer = setTimeout(() => void run(), intervalMs);
  };
  timer = setTimeout(() => void run(), firstMs);
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
