/**
 * The shards of a configuration: one Backend per replica URL, grouped by shard, placed on the
 * ring by shard name so that replacing a replica's URL moves no groups.
 */
import type { Config } from '../config/schema.js';
import { ringOf, type Ring } from '../core/ring.js';
import { Backend } from './client.js';

export interface Shard {
  readonly name: string;
  /** Its replicas, in configuration order (replica "0", "1", …). */
  readonly backends: readonly Backend[];
}

export interface Cluster {
  readonly ring: Ring;
  readonly shards: ReadonlyMap<string, Shard>;
  readonly backends: readonly Backend[];
  /** The shard that owns a canonical grouping key. */
  ownerOf(canonicalKey: string): Shard;
  /** True when every shard has at least one replica believed up. */
  ready(): boolean;
  /** Shards with no replica believed up. */
  unavailableShards(): string[];
  /** Probes every replica once, in parallel. */
  probeAll(): Promise<void>;
  close(): Promise<void>;
}

export function createCluster(config: Readonly<Config>): Cluster {
  // Draining shards own nothing: their replicas stay known (probed, scraped, reconciled) so that
  // their groups can be moved off them, but no push is placed on them.
  const ring = ringOf(config.shards);
  const shards = new Map<string, Shard>();
  const backends: Backend[] = [];
  for (const shard of config.shards) {
    const members = shard.replicas.map(
      (url, i) =>
        new Backend({
          shard: shard.name,
          replica: String(i),
          url,
          connections: config.write.connectionsPerBackend,
          connectTimeoutMs: config.write.connectTimeoutMs,
          timeoutMs: config.write.timeoutMs,
          probeTimeoutMs: config.health.timeoutMs,
          upAfterProbes: config.health.upAfterProbes,
        }),
    );
    backends.push(...members);
    shards.set(shard.name, { name: shard.name, backends: members });
  }
  const unavailableShards = (): string[] =>
    [...shards.values()].filter((s) => !s.backends.some((b) => b.up)).map((s) => s.name);
  return {
    ring,
    shards,
    backends,
    ownerOf(canonicalKey) {
      return shards.get(ring.ownerOf(canonicalKey))!;
    },
    ready: () => unavailableShards().length === 0,
    unavailableShards,
    async probeAll() {
      await Promise.all(backends.map((b) => b.probe()));
    },
    async close() {
      await Promise.all(backends.map((b) => b.close()));
    },
  };
}

/** Probes every replica on a fixed interval; a round still running delays the next. */
export function startHealthChecks(cluster: Cluster, intervalMs: number): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const round = async (): Promise<void> => {
    await cluster.probeAll();
    if (!stopped) timer = setTimeout(() => void round(), intervalMs);
  };
  timer = setTimeout(() => void round(), intervalMs);
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
