/**
 * Placement of grouping keys on shard names by ketama consistent hashing.
 *
 * `hashring` computes a server's points as floor(weight share x 40 x servers), which loses a
 * point to floating-point error for 7, 14, 28... servers and makes weights move keys between
 * *other* servers. Every shard is therefore given an explicit point count (250 x weight, 1,000
 * ring points with ketama's four per digest), which depends on nothing but the shard itself:
 * adding, removing or re-weighting one shard moves keys only to or from that shard. 250 rather
 * than libketama's 40: with 160 points 4 shards split 100,000 keys 1.32 max/min, with 1,000
 * points 1.06 — and a Pushgateway's cost per push grows with the groups it holds, so the
 * fullest shard sets the pace.
 */
import HashRing from 'hashring';

export const POINTS_PER_WEIGHT = 250;

export interface RingMember {
  readonly name: string;
  /** A positive integer; a shard of weight 2 owns about twice the keys of one of weight 1. */
  readonly weight: number;
}

export interface Ring {
  /** Shard names in sorted order. */
  readonly shards: readonly string[];
  /** The shard that owns a canonical grouping key. */
  ownerOf(canonicalKey: string): string;
}

export function createRing(members: readonly RingMember[]): Ring {
  if (members.length === 0) throw new Error('a ring needs at least one shard');
  const sorted = [...members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const servers: Record<string, { vnodes: number }> = {};
  for (const { name, weight } of sorted) {
    if (!Number.isInteger(weight) || weight < 1) throw new Error(`shard ${name}: weight must be a positive integer`);
    if (name in servers) throw new Error(`shard ${name} appears twice`);
    servers[name] = { vnodes: POINTS_PER_WEIGHT * weight };
  }
  // `vnode count: 0` makes hashring take every explicit count as given (it only honours an
  // explicit count that differs from its default); its cache is bounded and per ring.
  const ring = new HashRing(servers, 'md5', { 'vnode count': 0, 'max cache size': 10_000 });
  const shards = sorted.map((m) => m.name);
  const only = shards.length === 1 ? shards[0] : undefined;
  return {
    shards,
    ownerOf(canonicalKey) {
      if (only !== undefined) return only;
      const owner = ring.get(canonicalKey);
      if (owner === undefined) throw new Error('ring has no points');
      return owner;
    },
  };
}

/** The ring of a configuration's shards: draining shards own nothing. */
export function ringOf(shards: readonly (RingMember & { readonly draining?: boolean })[]): Ring {
  return createRing(shards.filter((s) => s.draining !== true));
}
