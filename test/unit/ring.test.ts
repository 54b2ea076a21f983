import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRing, type RingMember } from '../../src/core/ring.js';

const equal = (...names: string[]): RingMember[] => names.map((name) => ({ name, weight: 1 }));
const keys = (n: number, prefix = 'k'): string[] => Array.from({ length: n }, (_, i) => `{instance="${prefix}-${i}",job="batch"}`);

describe('createRing', () => {
  it('places pinned keys on pinned shards (changing this moves every deployed group)', () => {
    const ring = createRing(equal('a', 'b', 'c', 'd'));
    const pinned: Record<string, string> = {
      '{job="batch"}': 'b',
      '{instance="host1",job="batch"}': 'a',
      '{job="nightly-backup"}': 'b',
      '{job="x",zone="eu"}': 'b',
      '{instance="i0",job="pinned"}': 'd',
      '{instance="i1",job="pinned"}': 'c',
      '{instance="i3",job="pinned"}': 'a',
      '{instance="i7",job="pinned"}': 'b',
    };
    expect(Object.fromEntries(Object.keys(pinned).map((k) => [k, ring.ownerOf(k)]))).toEqual(pinned);
  });

  it('does not depend on the order shards are listed in', () => {
    const a = createRing(equal('a', 'b', 'c', 'd'));
    const b = createRing(equal('d', 'c', 'b', 'a'));
    for (const key of keys(2_000)) expect(b.ownerOf(key)).toBe(a.ownerOf(key));
  });

  it('places 10,000 keys identically in another process', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/print-placements.ts'], {
      maxBuffer: 1 << 20,
    });
    const ring = createRing(equal('a', 'b', 'c', 'd'));
    const here = Array.from({ length: 10_000 }, (_, i) => ring.ownerOf(`{instance="host-${i}",job="batch"}`));
    expect(stdout.trimEnd().split('\n')).toEqual(here);
  });

  it('spreads 100,000 keys over 4 equal shards within a max/min ratio of 1.15', () => {
    const ring = createRing(equal('a', 'b', 'c', 'd'));
    const counts = new Map<string, number>();
    for (const key of keys(100_000)) counts.set(ring.ownerOf(key), (counts.get(ring.ownerOf(key)) ?? 0) + 1);
    const values = [...counts.values()];
    const ratio = Math.max(...values) / Math.min(...values);
    console.info(`spread of 100,000 keys over 4 shards: ${JSON.stringify(Object.fromEntries(counts))}, max/min ${ratio.toFixed(3)}`);
    expect(counts.size).toBe(4);
    expect(ratio).toBeLessThan(1.15);
  });

  it('gives a shard of weight 2 about twice the keys of a shard of weight 1', () => {
    const ring = createRing([{ name: 'a', weight: 2 }, ...equal('b', 'c')]);
    const counts = new Map<string, number>();
    for (const key of keys(60_000)) counts.set(ring.ownerOf(key), (counts.get(ring.ownerOf(key)) ?? 0) + 1);
    const share = (counts.get('a') ?? 0) / 60_000;
    expect(share).toBeGreaterThan(0.38);
    expect(share).toBeLessThan(0.62);
  });

  it('refuses an empty ring, duplicate names and non-integer weights', () => {
    expect(() => createRing([])).toThrow(/at least one shard/);
    expect(() => createRing(equal('a', 'a'))).toThrow(/twice/);
    expect(() => createRing([{ name: 'a', weight: 1.5 }])).toThrow(/positive integer/);
  });
});

describe('ring changes move keys only to or from the shard that changed', () => {
  const shardSets = fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 30 });
  const sample = keys(3_000, 'p');

  it('adding a shard moves keys only onto it (also at 7, 14, 28 shards, where hashring loses points)', () => {
    for (const n of [6, 13, 27]) {
      const names = Array.from({ length: n }, (_, i) => `shard-${i}`);
      const before = createRing(equal(...names));
      const after = createRing(equal(...names, 'new'));
      for (const key of sample) {
        const owner = after.ownerOf(key);
        if (owner !== before.ownerOf(key)) expect(owner).toBe('new');
      }
    }
    fc.assert(
      fc.property(shardSets, fc.stringMatching(/^[A-Z]{1,8}$/), (names, added) => {
        const before = createRing(equal(...names));
        const after = createRing(equal(...names, added));
        for (const key of sample.slice(0, 500)) {
          const owner = after.ownerOf(key);
          if (owner !== before.ownerOf(key)) expect(owner).toBe(added);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('removing a shard moves only the keys it owned', () => {
    fc.assert(
      fc.property(
        shardSets.filter((s) => s.length >= 2),
        fc.nat(),
        (names, pick) => {
          const removed = names[pick % names.length]!;
          const before = createRing(equal(...names));
          const after = createRing(equal(...names.filter((n) => n !== removed)));
          for (const key of sample.slice(0, 500)) {
            if (before.ownerOf(key) !== removed) expect(after.ownerOf(key)).toBe(before.ownerOf(key));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('re-weighting a shard moves keys only between it and the others', () => {
    fc.assert(
      fc.property(
        shardSets.filter((s) => s.length >= 2),
        fc.nat(),
        fc.integer({ min: 1, max: 5 }),
        (names, pick, weight) => {
          const changed = names[pick % names.length]!;
          const before = createRing(equal(...names));
          const after = createRing(names.map((name) => ({ name, weight: name === changed ? weight : 1 })));
          for (const key of sample.slice(0, 500)) {
            const [was, now] = [before.ownerOf(key), after.ownerOf(key)];
            if (was !== now) expect([was, now]).toContain(changed);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
