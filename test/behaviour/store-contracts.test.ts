/**
 * Every store contract (test/contracts/) on every implementation: in memory, and in Redis with
 * a real redis-server (two clients on it standing for two front doors, and a server of its own
 * for each outage test); the stores whose scripts touch several keys also on Redis Cluster. A
 * new store adds its contract file there and a few lines here.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryIndexStore, type IndexStore } from '../../src/judge/index-store.js';
import { createRedisIndexStore } from '../../src/judge/redis-index-store.js';
import { createMemoryStore } from '../../src/limits/memory-store.js';
import { createRedisStore } from '../../src/limits/redis-store.js';
import { createMemoryHintStore, createRedisHintStore, type Hint, type HintEvents, type HintStore } from '../../src/reconcile/hints.js';
import { createMemoryChangeStore, createRedisChangeStore, type ChangeStore } from '../../src/reconcile/change-store.js';
import { createRedisSuspectStore, createSuspectStore } from '../../src/reconcile/suspects.js';
import { describeChangeStoreContract } from '../contracts/change-store.js';
import { describeHintStoreContract } from '../contracts/hint-store.js';
import { describeIndexStoreContract } from '../contracts/index-store.js';
import { useRedisFixture, type Bind } from '../contracts/redis-fixture.js';
import { waitFor } from '../helpers/processes.js';
import { describeSuspectStoreContract } from '../contracts/suspect-store.js';
import { describeWindowStoreContract } from '../contracts/window-store.js';

const redis = useRedisFixture();

describeWindowStoreContract('the memory window store', () => createMemoryStore({ maxKeys: 1_000 }));
const redisWindows: Bind<[], ReturnType<typeof createRedisStore>> = (client, prefix) => createRedisStore(client, prefix);
describeWindowStoreContract('the Redis window store', redis.fresh(redisWindows), redis.options(redisWindows));

// The byte bound is the memory store's alone; it is set out of the way here (test/unit/hints.test.ts).
describeHintStoreContract('the memory hint store', (limits, events) => createMemoryHintStore({ ...limits, maxBytes: 1 << 30 }, events));
const redisHints: Bind<[{ maxPerReplica: number }, HintEvents], HintStore> = (client, prefix, limits, events) =>
  createRedisHintStore(client, prefix, limits.maxPerReplica, events);
describeHintStoreContract('the Redis hint store', redis.fresh(redisHints), redis.options(redisHints));

describeSuspectStoreContract('the memory suspect store', createSuspectStore);
const redisSuspects: Bind<[], ReturnType<typeof createRedisSuspectStore>> = (client, prefix) => createRedisSuspectStore(client, prefix);
describeSuspectStoreContract('the Redis suspect store', redis.fresh(redisSuspects), redis.options(redisSuspects));

describeChangeStoreContract('the memory ring-change store', () => createMemoryChangeStore());
const redisChanges: Bind<[], ChangeStore> = (client, prefix) => createRedisChangeStore(client, prefix);
describeChangeStoreContract('the Redis ring-change store', redis.fresh(redisChanges), redis.options(redisChanges));

describeIndexStoreContract('the memory index store', createMemoryIndexStore);
const redisIndex: Bind<[], IndexStore> = (client, prefix) => createRedisIndexStore(client, prefix);
describeIndexStoreContract('the Redis index store', redis.fresh(redisIndex), redis.options(redisIndex));

describe('on Redis Cluster', () => {
  const cluster = useRedisFixture({ cluster: true });
  describeIndexStoreContract('the Redis index store', cluster.fresh(redisIndex), cluster.options(redisIndex));
  describeHintStoreContract('the Redis hint store', cluster.fresh(redisHints), cluster.options(redisHints));
  describeSuspectStoreContract('the Redis suspect store', cluster.fresh(redisSuspects), cluster.options(redisSuspects));
});

describe('the Redis hint store’s keys', () => {
  let queued = 0;
  const events = { queued: () => void queued++, dropped: () => undefined };
  const settled = (count: number): Promise<unknown> => waitFor(async () => queued === count, { what: `${count} hints to be queued`, timeoutMs: 5_000 });
  const hint = (group: string, method: Hint['method'], body: string): Hint => ({
    group,
    method,
    path: `/metrics/job/${group}`,
    headers: [],
    body: Buffer.from(body),
    at: 5,
  });

  it('hold one entry per kept hint in the list hints:{<replica>}, which LLEN counts', async () => {
    const prefix = redis.prefix();
    queued = 0;
    const store = createRedisHintStore(redis.client(), prefix, 100, events);
    store.add('a/0', hint('g', 'PUT', '1'));
    store.add('a/0', hint('g', 'POST', '2'));
    store.add('a/0', hint('g', 'PUT', '3'));
    store.add('a/0', hint('h', 'POST', '4'));
    await settled(4);
    expect(await redis.client().llen(`${prefix}hints:{a/0}`)).toBe(2);
    await store.drain('a/0');
    expect(await redis.client().keys(`${prefix}hints:{a/0}*`)).toEqual([]);
  });

  it('drain, in order, the hints an older front door kept as JSON in the list, also after it trimmed them', async () => {
    const prefix = redis.prefix();
    const key = `${prefix}hints:{a/0}`;
    const legacy = (group: string, body: string): string =>
      JSON.stringify({ g: group, m: 'POST', p: `/metrics/job/${group}`, h: [], b: Buffer.from(body).toString('base64'), t: 5 });
    queued = 0;
    const store = createRedisHintStore(redis.client(), prefix, 100, events);
    await redis.client().rpush(key, legacy('old', 'o1'));
    store.add('a/0', hint('new', 'POST', 'n1'));
    store.add('a/0', hint('new', 'POST', 'n2'));
    store.add('a/0', hint('new', 'POST', 'n3'));
    await settled(3);
    // An older front door adds one and trims the list to its newest three, as it did.
    await redis.client().multi().rpush(key, legacy('old', 'o2')).ltrim(key, -3, -1).exec();
    const drained = await store.drain('a/0');
    expect(drained.map((h) => `${h.group} ${h.body?.toString() ?? ''}`)).toEqual(['new n2', 'new n3', 'old o2']);
  });
});
