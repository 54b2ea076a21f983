import { describe, expect, it } from 'vitest';
import { collapseHints, createMemoryHintStore, type Hint } from '../../src/reconcile/hints.js';

const hint = (group: string, method: Hint['method'], body = '', at = 0): Hint => ({
  group,
  method,
  path: `/metrics/job/${group}`,
  headers: [],
  body: body === '' ? null : Buffer.from(body),
  at,
});

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
});

describe('the memory hint store', () => {
  it('drains collapsed hints once, and stays within its bounds', async () => {
    let queued = 0;
    let dropped = 0;
    const store = createMemoryHintStore({ maxPerReplica: 3, maxBytes: 1_000_000 }, { queued: () => queued++, dropped: (n) => (dropped += n) });
    store.add('s0/0', hint('a', 'PUT', '1'));
    store.add('s0/0', hint('a', 'PUT', '2'));
    for (let i = 0; i < 5; i++) store.add('s0/0', hint(`g${i}`, 'POST', 'p'));
    expect(dropped).toBe(3);
    expect((await store.drain('s0/0')).map((h) => h.group)).toEqual(['a', 'g0', 'g1']);
    expect(await store.drain('s0/0')).toEqual([]);
    expect(queued).toBe(4);
  });

  it('bounds the bytes it keeps', () => {
    let dropped = 0;
    const store = createMemoryHintStore({ maxPerReplica: 100, maxBytes: 1_000 }, { queued: () => {}, dropped: (n) => (dropped += n) });
    for (let i = 0; i < 10; i++) store.add('r', hint(`g${i}`, 'PUT', 'x'.repeat(300)));
    expect(dropped).toBeGreaterThanOrEqual(7);
  });
});
