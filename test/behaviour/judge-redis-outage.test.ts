/**
 * The judge's index in a real redis-server that stops answering (SIGSTOP) or dies (SIGKILL):
 * judging fails closed — every call rejects with JUDGE_STORE_UNAVAILABLE, through the client's
 * command time-out or at once, nothing queued — and the same store works again once Redis is
 * back, without a restart of the front door.
 */
import type { Cluster, Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IndexChange } from '../../src/core/index-table.js';
import { JUDGE_STORE_UNAVAILABLE, type IndexStore } from '../../src/judge/index-store.js';
import { createRedisIndexStore } from '../../src/judge/redis-index-store.js';
import { createRedisClient } from '../../src/limits/redis-client.js';
import { waitFor } from '../helpers/processes.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const claim = (field: string, owner: string): IndexChange => ({ expect: [[field, undefined]], set: [[field, owner]], add: [['claims', 1]] });

/** What a call rejected with, failing the test when it resolved. */
async function rejection(call: Promise<unknown>): Promise<{ code?: unknown; cause?: unknown }> {
  try {
    await call;
  } catch (err) {
    return err as { code?: unknown; cause?: unknown };
  }
  throw new Error('the call resolved while Redis was out of reach');
}

const causeOf = (err: { cause?: unknown }): string => (err.cause instanceof Error ? err.cause.message : String(err.cause));

describe('the Redis index store during a Redis outage', () => {
  let server: RedisServer;
  let client: Redis | Cluster;
  let store: IndexStore;

  beforeEach(async () => {
    server = await startRedis();
    client = createRedisClient({ url: server.url, commandTimeoutMs: 300, connectTimeoutMs: 1_000, keyPrefix: '' });
    // Failures reach the store through its commands; this keeps ioredis from reporting them.
    client.on('error', () => undefined);
    await waitFor(async () => client.status === 'ready', { what: 'the Redis client to be ready', timeoutMs: 10_000, intervalMs: 20 });
    store = createRedisIndexStore(client, 'outage:');
    // The script is cached from here on: after a restart EVALSHA meets an empty script cache.
    expect(await store.commit(claim('before', 'me'))).toBe(true);
  });

  afterEach(async () => {
    if (server.process.alive()) server.process.cont();
    client.disconnect();
    await server.close();
  });

  it('rejects reads, commits and scans while Redis is stopped, through the command time-out; works again once it resumes', async () => {
    server.process.stop();
    for (const call of [store.read(['before']), store.commit(claim('late', 'me')), store.scan('', '0', 10)]) {
      const err = await rejection(call);
      expect(err.code).toBe(JUDGE_STORE_UNAVAILABLE);
      expect(causeOf(err)).toMatch(/timed out/i);
    }
    server.process.cont();
    await waitFor(async () => (await store.read(['before']).catch(() => undefined))?.[0] === 'me', {
      what: 'the store to read again once Redis resumed',
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    // A rejected commit's outcome is unknown: the one that timed out was buffered and ran on resume.
    expect(await store.read(['late', 'claims'])).toEqual(['me', '2']);
    expect(await store.commit(claim('after', 'me'))).toBe(true);
    expect(await store.commit(claim('after', 'other'))).toBe(false);
  });

  it('rejects every call at once while Redis is dead, queueing none, and works again after a restart that lost its scripts', async () => {
    await server.kill();
    for (const call of [store.read(['before']), store.commit(claim('queued', 'me')), store.scan('', '0', 10)]) {
      const err = await rejection(call);
      expect(err.code).toBe(JUDGE_STORE_UNAVAILABLE);
      expect(causeOf(err)).not.toMatch(/timed out/i);
    }
    await server.restart();
    await waitFor(async () => client.status === 'ready', { what: 'the Redis client to reconnect', timeoutMs: 10_000, intervalMs: 20 });
    // The restarted Redis is empty and has no script cached: the commit falls back from EVALSHA to EVAL.
    expect(await store.commit(claim('after', 'me'))).toBe(true);
    // Nothing sent while Redis was dead ran once it came back.
    expect(await store.read(['queued', 'after', 'claims'])).toEqual([undefined, 'me', '1']);
    expect(await store.scan('', '0', 10)).toEqual({ entries: expect.arrayContaining([['after', 'me']]), cursor: '0' });
  });
});
