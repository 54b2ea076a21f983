/** The ring-change store contract on memory and on a real Redis. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { createMemoryChangeStore, createRedisChangeStore } from '../../src/reconcile/change-store.js';
import { describeChangeStoreContract } from '../contracts/change-store.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let redis: RedisServer;
const clients: Redis[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis?.close();
});

describeChangeStoreContract('the memory store', () => {
  const store = createMemoryChangeStore();
  return [store, store];
});

let prefixes = 0;
describeChangeStoreContract('the Redis store', () => {
  const prefix = `change-${++prefixes}:`;
  const [a, b] = [new Redis(redis.url), new Redis(redis.url)];
  clients.push(a, b);
  return [createRedisChangeStore(a, prefix), createRedisChangeStore(b, prefix)];
});
