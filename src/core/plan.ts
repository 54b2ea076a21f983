/**
 * How many groups a ring change moves, from which shard to which. Pure: fed either with the
 * groups live backends hold (what will really move) or with sample keys placed on the old ring
 * (a share of the key space, without any backend).
 */
import type { Ring } from './ring.js';

export interface Move {
  readonly from: string;
  readonly to: string;
  readonly count: number;
}

export interface MovePlan {
  /** Groups (or sample keys) looked at. */
  readonly total: number;
  /** Those whose owner does not change. */
  readonly staying: number;
  /** Moves by source and destination shard, largest first. */
  readonly moves: readonly Move[];
}

/** `placed`: each group's canonical key with the shard that holds it now. */
export function planMoves(placed: Iterable<readonly [shard: string, canonical: string]>, next: Ring): MovePlan {
  const counts = new Map<string, Move>();
  let total = 0;
  let staying = 0;
  for (const [from, canonical] of placed) {
    total++;
    const to = next.ownerOf(canonical);
    if (to === from) {
      staying++;
      continue;
    }
    const key = `${from}\u0000${to}`;
    const move = counts.get(key);
    counts.set(key, { from, to, count: (move?.count ?? 0) + 1 });
  }
  const moves = [...counts.values()].sort((a, b) => b.count - a.count || (a.from + a.to < b.from + b.to ? -1 : 1));
  return { total, staying, moves };
}

/** Sample keys placed on `previous`: the plan as shares of the key space. */
export function* sampleKeys(previous: Ring, samples: number): Generator<readonly [string, string]> {
  for (let i = 0; i < samples; i++) {
    const key = `{sample="${i}"}`;
    yield [previous.ownerOf(key), key];
  }
}
