import { describe, expect, it } from 'vitest';
import type { Cluster, Shard } from '../../src/backends/cluster.js';
import { parseGroupingPath, type GroupingKey } from '../../src/core/grouping-key.js';
import { ringOf } from '../../src/core/ring.js';
import { renderError } from '../../src/http/errors.js';
import { checkFence, checkRateLimit, checkReservedLabels, type PushRequest, type Refusal } from '../../src/http/push.js';
import { createLimiter, type LimiterObserver } from '../../src/limits/limiter.js';
import type { Decision, WindowStore } from '../../src/limits/store.js';
import { validated } from '../helpers/config.js';

function keyOf(path: string): GroupingKey {
  const parsed = parseGroupingPath(path);
  if (!parsed.ok) throw new Error(`${path} does not parse`);
  return parsed.key;
}

const request = (method: string): PushRequest => ({ method, headers: {}, body: Buffer.alloc(0) });
const PUT = request('PUT');
const quiet: LimiterObserver = { limited: () => {}, storeFailed: () => {}, storeRecovered: () => {}, evicted: () => {} };

describe('checkReservedLabels', () => {
  const check = checkReservedLabels({ shardLabel: 'shard', replicaLabel: 'replica' });
  it.each([
    ['/metrics/job/j/instance/a', undefined],
    ['/metrics/job/j/replica/1', 'replica'],
    ['/metrics/job/j/a/b/shard/s0', 'shard'],
    // base64 spellings are decoded before the check: the grouping key is what Prometheus sees
    ['/metrics/job/j/replica@base64/MQ', 'replica'],
    ['/metrics/job/j/shardx/1', undefined],
  ])('%s → %s', (path, label) => {
    const refusal = check(keyOf(path), PUT);
    expect(refusal).toEqual(label === undefined ? undefined : { code: 'PUSHRING_RESERVED_LABEL', context: { label } });
  });

  it('follows the configured label names', () => {
    const renamed = checkReservedLabels({ shardLabel: 'pr_shard', replicaLabel: 'pr_replica' });
    expect(renamed(keyOf('/metrics/job/j/replica/1'), PUT)).toBeUndefined();
    expect(renamed(keyOf('/metrics/job/j/pr_replica/1'), PUT)).toEqual({ code: 'PUSHRING_RESERVED_LABEL', context: { label: 'pr_replica' } });
  });
});

describe('checkRateLimit', () => {
  const limits = (extra: Record<string, unknown> = {}) =>
    validated({ shards: [{ name: 'a', replicas: ['http://127.0.0.1:1'] }], limits: { default: { pushes: 2, windowSeconds: 60 }, ...extra } }).limits;

  it('lets pushes through up to the limit, then refuses with Retry-After and the rate-limit headers, synchronously in memory', () => {
    const check = checkRateLimit(createLimiter(limits(), undefined, quiet)!);
    const key = keyOf('/metrics/job/nightly');
    const answers = [check(key, PUT), check(key, PUT), check(key, PUT)];
    expect(answers.slice(0, 2)).toEqual([undefined, undefined]);
    const refusal = answers[2] as Refusal;
    expect(refusal).not.toBeInstanceOf(Promise);
    expect(refusal.code).toBe('PUSHRING_RATE_LIMITED');
    expect(refusal.context).toEqual({ job: 'nightly', rule: 'default', pushes: 2, windowSeconds: 60, retryAfterS: 60 });
    expect(refusal.headers).toEqual({ 'retry-after': '60', 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '60' });
    // Another job has its own window.
    expect(check(keyOf('/metrics/job/hourly'), PUT)).toBeUndefined();
  });

  it('counts DELETEs only with limitDeletes', () => {
    for (const limitDeletes of [false, true]) {
      const check = checkRateLimit(createLimiter(limits({ limitDeletes }), undefined, quiet)!);
      const key = keyOf('/metrics/job/cleanup');
      const answers = [0, 1, 2].map(() => check(key, request('DELETE')));
      expect(answers.map((a) => (a as Refusal | undefined)?.code)).toEqual(
        limitDeletes ? [undefined, undefined, 'PUSHRING_RATE_LIMITED'] : [undefined, undefined, undefined],
      );
    }
  });

  it('answers through a promise when the shared store is asked', async () => {
    const over: WindowStore = {
      consume: async (rule): Promise<Decision> => ({ allowed: false, rule, remaining: 0, resetMs: 1_500 }),
      close: async () => {},
    };
    const check = checkRateLimit(createLimiter(limits(), over, quiet)!);
    const answer = check(keyOf('/metrics/job/shared'), PUT);
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toMatchObject({ code: 'PUSHRING_RATE_LIMITED', context: { job: 'shared', retryAfterS: 2 } });
  });
});

describe('checkFence', () => {
  const shards = ['a', 'b', 'c'].map((name) => ({ name, weight: 1 }));
  const ring = ringOf(shards.slice(0, 2));
  const grown = ringOf(shards);
  const fakeCluster = (fence: Cluster['fence']): Pick<Cluster, 'fence' | 'ownerOf'> => ({
    fence,
    ownerOf: (canonical) => ({ name: ring.ownerOf(canonical), backends: [] }) satisfies Shard,
  });
  const keys = Array.from({ length: 200 }, (_, i) => keyOf(`/metrics/job/fenced/instance/i${i}`));
  const moved = keys.filter((k) => grown.ownerOf(k.canonical) !== ring.ownerOf(k.canonical));

  it('lets every push through without a fence', () => {
    const check = checkFence(fakeCluster(undefined));
    expect(keys.map((k) => check(k, PUT)).filter((r) => r !== undefined)).toEqual([]);
  });

  it('refuses exactly the pushes whose owner differs under a fencing ring, naming the shard there', () => {
    expect(moved.length).toBeGreaterThan(0);
    const check = checkFence(fakeCluster([grown]));
    for (const key of keys) {
      const there = grown.ownerOf(key.canonical);
      expect(check(key, PUT), key.canonical).toEqual(
        there === ring.ownerOf(key.canonical) ? undefined : { code: 'PUSHRING_RING_BEHIND', context: { shard: there } },
      );
    }
  });

  it('with several fencing rings, refuses a push that any of them places elsewhere', () => {
    const check = checkFence(fakeCluster([ring, grown]));
    expect(keys.filter((k) => check(k, PUT) !== undefined)).toEqual(moved);
  });
});

describe('refusals render as the catalogue says', () => {
  it('a reserved label refusal is a 400 naming the label', () => {
    const refusal = checkReservedLabels({ shardLabel: 'shard', replicaLabel: 'replica' })(keyOf('/metrics/job/j/shard/x'), PUT) as Refusal & {
      code: 'PUSHRING_RESERVED_LABEL';
    };
    const { status, body } = renderError(refusal.code, refusal.context);
    expect(status).toBe(400);
    expect(body).toContain('the grouping label "shard" is reserved');
  });
});
