/**
 * Measures the judge's index in a real redis-server (not a test: figures depend on the machine):
 * bytes per series of Redis's used_memory after N groups of 5 series were judged and recorded
 * through the judge service, as front doors record them, and µs per judged push.
 *
 *   npx tsx scripts/judge-measure-redis.ts [groups...]     (default 20000 100000)
 */
import { Redis } from 'ioredis';
import { createRedisIndexStore } from '../src/judge/redis-index-store.js';
import { BUILT_FIELD, createJudge } from '../src/judge/judge-service.js';
import { startRedis } from '../test/helpers/redis.js';
import { writeOfGroup } from './judge-measure.js';

const SERIES_PER_GROUP = 5;
const CONCURRENCY = 32;

async function usedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function measure(groups: number): Promise<void> {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  try {
    const store = createRedisIndexStore(client, 'measure:');
    const judge = createJudge({ store, limits: { maxSeries: Number.MAX_SAFE_INTEGER } });
    await store.commit({ expect: [], set: [[BUILT_FIELD, 'measure']], add: [] });
    const before = await usedMemory(client);
    const started = process.hrtime.bigint();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < groups) {
        const verdict = await judge.judge(writeOfGroup(next++));
        if (!verdict.ok) throw new Error(`refused: ${JSON.stringify(verdict)}`);
        await judge.settle(verdict);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const micros = Number(process.hrtime.bigint() - started) / 1000 / groups;
    const bytes = (await usedMemory(client)) - before;
    const series = groups * SERIES_PER_GROUP;
    console.log(
      `${groups} groups, ${series} series: Redis used_memory +${(bytes / 2 ** 20).toFixed(1)} MiB, ${Math.round(bytes / series)} bytes/series; ` +
        `${micros.toFixed(0)} µs per new group judged and recorded (${CONCURRENCY} in flight)`,
    );
  } finally {
    client.disconnect();
    await redis.close();
  }
}

const sizes = process.argv.slice(2).map(Number);
for (const groups of sizes.length > 0 ? sizes : [20_000, 100_000]) await measure(groups);
