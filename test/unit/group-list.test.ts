import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ApiGroup } from '../../src/core/exposition.js';
import { FirstInOrder, MAX_GROUPS_LISTED, compareRows, parseGroupQuery, rowOf } from '../../src/core/group-list.js';
import { createRefusalLog } from '../../src/http/refusals.js';

describe('parseGroupQuery', () => {
  it.each([
    { query: {}, result: { ok: true, query: { job: '*', limit: 500 } } },
    { query: { job: 'backup-*' }, result: { ok: true, query: { job: 'backup-*', limit: 500 } } },
    { query: { job: '' }, result: { ok: true, query: { job: '*', limit: 500 } } },
    { query: { limit: '1' }, result: { ok: true, query: { job: '*', limit: 1 } } },
    { query: { limit: String(MAX_GROUPS_LISTED) }, result: { ok: true, query: { job: '*', limit: MAX_GROUPS_LISTED } } },
  ])('accepts $query', ({ query, result }) => {
    expect(parseGroupQuery(query)).toEqual(result);
  });

  it.each([
    { query: { limit: '0' }, problem: 'limit must be a whole number from 1 to 5000, not "0"' },
    { query: { limit: '5001' }, problem: 'limit must be a whole number from 1 to 5000, not "5001"' },
    { query: { limit: '-1' }, problem: 'limit must be a whole number from 1 to 5000, not "-1"' },
    { query: { limit: '1e3' }, problem: 'limit must be a whole number from 1 to 5000, not "1e3"' },
    { query: { limit: ['1', '2'] }, problem: 'give limit once' },
    { query: { job: ['a', 'b'] }, problem: 'give job once' },
    { query: { job: 'x'.repeat(1025) }, problem: 'job is longer than 1024 characters; give a shorter glob' },
  ])('refuses $query', ({ query, problem }) => {
    expect(parseGroupQuery(query)).toEqual({ ok: false, problem });
  });
});

describe('rowOf', () => {
  const family = (value: string) => ({ type: 'GAUGE' as const, metrics: [{ value }] });
  it.each([
    {
      name: 'a successful push',
      group: { labels: { job: 'a', instance: 'x' }, last_push_successful: true, push_time_seconds: family('100.5'), push_failure_time_seconds: family('0') },
      row: { job: 'a', labels: { instance: 'x' }, shard: 's', lastPush: 100.5, lastFailure: null, failed: false },
    },
    {
      name: 'a failed push after a successful one',
      group: { labels: { job: 'a' }, last_push_successful: false, push_time_seconds: family('100'), push_failure_time_seconds: family('200') },
      row: { job: 'a', labels: {}, shard: 's', lastPush: 100, lastFailure: 200, failed: true },
    },
    {
      name: 'only failed pushes',
      group: { labels: { job: 'a' }, push_time_seconds: family('0'), push_failure_time_seconds: family('200') },
      row: { job: 'a', labels: {}, shard: 's', lastPush: null, lastFailure: 200, failed: true },
    },
  ])('$name', ({ group, row }) => {
    expect(rowOf(group as unknown as ApiGroup, 's')).toEqual(row);
  });
});

describe('FirstInOrder', () => {
  it('keeps the first `limit` items of everything offered, in order, and counts every offer', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), fc.integer({ min: 1, max: 20 }), (items, limit) => {
        const kept = new FirstInOrder<number>(limit, (a, b) => a - b);
        for (const item of items) kept.offer(item);
        expect(kept.list).toEqual([...items].sort((a, b) => a - b).slice(0, limit));
        expect(kept.offered).toBe(items.length);
      }),
    );
  });

  it('orders rows by job, then by their other labels', () => {
    const row = (job: string, labels: Record<string, string>) => ({ job, labels, shard: 's', lastPush: null, lastFailure: null, failed: false });
    const rows = [row('b', {}), row('a', { instance: 'y' }), row('a', { instance: 'x' }), row('a', {})];
    expect([...rows].sort(compareRows).map((r) => [r.job, r.labels['instance'] ?? ''])).toEqual([
      ['a', ''],
      ['a', 'x'],
      ['a', 'y'],
      ['b', ''],
    ]);
  });
});

describe('createRefusalLog', () => {
  const refusal = (n: number) => ({ at: String(n), method: 'PUT', job: `j${n}`, path: '/', status: 429, code: undefined, credential: undefined, message: '' });
  it('keeps the newest `capacity`, newest first', () => {
    const log = createRefusalLog(3);
    expect(log.recent()).toEqual([]);
    for (let n = 1; n <= 2; n++) log.record(refusal(n));
    expect(log.recent().map((r) => r.job)).toEqual(['j2', 'j1']);
    for (let n = 3; n <= 7; n++) log.record(refusal(n));
    expect(log.recent().map((r) => r.job)).toEqual(['j7', 'j6', 'j5']);
  });
});
