/**
 * A seeded random stream for the tests' generators: the same sequence on every platform for the
 * same seed, so that a failure replays from its seed.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  below(n: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Picks by weight: each entry is [weight, item]. */
  weighted<T>(entries: ReadonlyArray<readonly [number, T]>): T;
  /** `n` random bytes. */
  bytes(n: number): Buffer;
}

/** mulberry32: small, fast, and the same stream on every platform for the same seed. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n: number): number => Math.floor(next() * n);
  return {
    next,
    below,
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty pool');
      return items[below(items.length)]!;
    },
    weighted: (entries) => {
      const total = entries.reduce((sum, [w]) => sum + w, 0);
      let x = next() * total;
      for (const [w, item] of entries) {
        x -= w;
        if (x < 0) return item;
      }
      return entries[entries.length - 1]![1];
    },
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => below(256))),
  };
}
