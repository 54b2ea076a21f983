import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planMoves, sampleKeys } from '../../src/core/plan.js';
import { createRing } from '../../src/core/ring.js';

const ring = (...names: string[]) => createRing(names.map((name) => ({ name, weight: 1 })));

describe('planMoves', () => {
  it('adding one shard to four moves about a fifth of the key space, all of it onto the new shard', () => {
    const plan = planMoves(sampleKeys(ring('a', 'b', 'c', 'd'), 100_000), ring('a', 'b', 'c', 'd', 'e'));
    const moved = plan.moves.reduce((n, m) => n + m.count, 0);
    expect(plan.total).toBe(100_000);
    expect(plan.staying + moved).toBe(100_000);
    expect(moved / 100_000).toBeGreaterThan(0.17);
    expect(moved / 100_000).toBeLessThan(0.23);
    expect(new Set(plan.moves.map((m) => m.to))).toEqual(new Set(['e']));
    expect(new Set(plan.moves.map((m) => m.from))).toEqual(new Set(['a', 'b', 'c', 'd']));
  });

  it('removing a shard moves exactly its keys, onto the others', () => {
    const before = ring('a', 'b', 'c', 'd', 'e');
    const owned = [...sampleKeys(before, 20_000)].filter(([shard]) => shard === 'e').length;
    const plan = planMoves(sampleKeys(before, 20_000), ring('a', 'b', 'c', 'd'));
    expect(plan.moves.every((m) => m.from === 'e' && m.to !== 'e')).toBe(true);
    expect(plan.moves.reduce((n, m) => n + m.count, 0)).toBe(owned);
  });

  it('counts real groups by where they are, including groups already misplaced', () => {
    const next = ring('a', 'b');
    const keys = ['{job="1"}', '{job="2"}', '{job="3"}'];
    const placed = keys.map((k) => [next.ownerOf(k) === 'a' ? 'b' : 'a', k] as const);
    const plan = planMoves(placed, next);
    expect(plan.staying).toBe(0);
    expect(plan.moves.reduce((n, m) => n + m.count, 0)).toBe(3);
  });

  it('never moves a key between two shards that are in both rings (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 2, maxLength: 12 }), fc.nat(), (names, seed) => {
        const removed = names[seed % names.length]!;
        const plan = planMoves(sampleKeys(ring(...names), 2_000), ring(...names.filter((n) => n !== removed), 'added'));
        for (const move of plan.moves) expect(move.from === removed || move.to === 'added').toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});
