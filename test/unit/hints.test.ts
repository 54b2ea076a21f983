import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { collapseHints, createMemoryHintStore, type Hint } from '../../src/reconcile/hints.js';

// What every hint store promises (order, superseding, bounds, draining) is in
// test/contracts/hint-store.ts, run on each store by test/behaviour/store-contracts.test.ts.

const hint = (group: string, method: Hint['method'], body = '', at = 0): Hint => ({
  group,
  method,
  path: `/metrics/job/${group}`,
  headers: [],
  body: body === '' ? null : Buffer.from(body),
  at,
});

const show = (hints: readonly Hint[]): string[] => hints.map((h) => `${h.group} ${h.method} ${h.body?.toString() ?? ''}`.trim());

describe('collapseHints', () => {
  it('keeps, per group, only what follows its last PUT or DELETE, in order', () => {
    const collapsed = collapseHints([
      hint('a', 'PUT', '1'),
      hint('b', 'POST', 'x'),
      hint('a', 'POST', '2'),
      hint('a', 'PUT', '3'),
      hint('b', 'DELETE'),
      hint('a', 'POST', '4'),
      hint('b', 'POST', 'y'),
    ]);
    expect(collapsed.map((h) => `${h.group} ${h.method} ${h.body?.toString() ?? ''}`.trim())).toEqual(['a PUT 3', 'a POST 4', 'b DELETE', 'b POST y']);
  });

  it.each([
    { hints: [], expected: [] },
    { hints: [hint('a', 'POST', '1'), hint('a', 'POST', '2')], expected: ['a POST 1', 'a POST 2'] },
    // A group goes where its first kept hint is: after b, whose hint came before a's PUT.
    { hints: [hint('a', 'PUT', '1'), hint('b', 'PUT', '1'), hint('a', 'PUT', '2')], expected: ['b PUT 1', 'a PUT 2'] },
    { hints: [hint('a', 'POST', '1'), hint('b', 'POST', '1'), hint('a', 'POST', '2')], expected: ['a POST 1', 'a POST 2', 'b POST 1'] },
    { hints: [hint('a', 'POST', '1'), hint('a', 'DELETE'), hint('a', 'POST', '2')], expected: ['a DELETE', 'a POST 2'] },
  ])('collapses $expected', ({ hints, expected }) => {
    expect(show(collapseHints(hints))).toEqual(expected);
  });

  const hints = fc.array(
    fc
      .record({ group: fc.constantFrom('a', 'b', 'c'), method: fc.constantFrom<Hint['method']>('PUT', 'POST', 'DELETE'), body: fc.string({ maxLength: 4 }) })
      .map((h) => hint(h.group, h.method, h.body)),
    { maxLength: 30 },
  );

  it('gives the same answer from what it gave (a store collapses what it already collapsed)', () => {
    fc.assert(
      fc.property(hints, (list) => {
        expect(collapseHints(collapseHints(list))).toEqual(collapseHints(list));
      }),
    );
  });

  it('gives the same answer from any split of the hints collapsed in turn', () => {
    fc.assert(
      fc.property(hints, fc.nat(), (list, cut) => {
        const at = list.length === 0 ? 0 : cut % (list.length + 1);
        expect(collapseHints([...collapseHints(list.slice(0, at)), ...list.slice(at)])).toEqual(collapseHints(list));
      }),
    );
  });
});

describe('the memory hint store’s byte bound', () => {
  const counting = () => {
    const counted = { queued: 0, dropped: 0 };
    return { counted, events: { queued: () => void counted.queued++, dropped: (n: number) => void (counted.dropped += n) } };
  };
  /** About 400 bytes as the store counts them. */
  const big = (group: string): Hint => hint(group, 'PUT', 'x'.repeat(300));

  it('bounds the bytes it keeps', () => {
    let dropped = 0;
    const store = createMemoryHintStore({ maxPerReplica: 100, maxBytes: 1_000 }, { queued: () => {}, dropped: (n) => (dropped += n) });
    for (let i = 0; i < 10; i++) store.add('r', hint(`g${i}`, 'PUT', 'x'.repeat(300)));
    expect(dropped).toBeGreaterThanOrEqual(7);
  });

  it('drops the oldest hints of any replica to make room, keeping the newest', async () => {
    const { counted, events } = counting();
    const store = createMemoryHintStore({ maxPerReplica: 100, maxBytes: 1_000 }, events);
    store.add('one', big('a0'));
    store.add('one', big('a1'));
    store.add('two', big('b0'));
    expect(counted).toEqual({ queued: 3, dropped: 1 });
    expect(show(await store.drain('one')).map((s) => s.split(' ')[0])).toEqual(['a1']);
    expect(show(await store.drain('two')).map((s) => s.split(' ')[0])).toEqual(['b0']);
  });

  it('drops a hint larger than the whole bound by itself, keeping the others', async () => {
    const { counted, events } = counting();
    const store = createMemoryHintStore({ maxPerReplica: 100, maxBytes: 1_000 }, events);
    store.add('r', big('kept'));
    store.add('r', hint('huge', 'PUT', 'x'.repeat(2_000)));
    expect(counted).toEqual({ queued: 1, dropped: 1 });
    expect(show(await store.drain('r')).map((s) => s.split(' ')[0])).toEqual(['kept']);
  });

  it('counts headers towards the bound', () => {
    const { counted, events } = counting();
    const store = createMemoryHintStore({ maxPerReplica: 100, maxBytes: 1_000 }, events);
    for (let i = 0; i < 2; i++) store.add('r', { ...hint(`g${i}`, 'PUT', 'x'), headers: ['x-padding', 'p'.repeat(400)] });
    expect(counted).toEqual({ queued: 2, dropped: 0 });
    store.add('r', { ...hint('g2', 'PUT', 'x'), headers: ['x-padding', 'p'.repeat(400)] });
    expect(counted).toEqual({ queued: 3, dropped: 1 });
  });

  it('gives back the bytes of superseded and drained hints', async () => {
    const { counted, events } = counting();
    const store = createMemoryHintStore({ maxPerReplica: 100, maxBytes: 1_000 }, events);
    for (let i = 0; i < 10; i++) store.add('r', big('same'));
    store.add('r', big('other'));
    expect(counted.dropped).toBe(0);
    await store.drain('r');
    store.add('r', big('a'));
    store.add('r', big('b'));
    expect(counted.dropped).toBe(0);
  });
});
