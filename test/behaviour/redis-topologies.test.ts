/**
 * The Redis store beyond a standalone server, with real redis-server processes: a Redis Cluster
 * of three masters and a master found through Redis Sentinel keep the window-store contract and
 * limit a front door; and a frozen (SIGSTOPped) Redis never stops a push.
 */
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, waitForRedisReady } from '../../src/limits/redis-client.js';
import { createRedisStore } from '../../src/limits/redis-store.js';
import { describeWindowStoreContract } from '../contracts/window-store.js';
import { waitFor } from '../helpers/processes.js';
import { startRedis, startRedisCluster, startRedisSentinel, type RedisCluster, type RedisSentinel, type RedisServer } from '../helpers/redis.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

const push = (door: FrontDoor, job: string) =>
  send(door.url, { method: 'PUT', path: `/metrics/job/${job}`, headers: { 'content-type': 'text/plain' }, body: 'limited_metric 1\n' });

const selfMetrics = async (door: FrontDoor): Promise<string> => (await fetch(`${door.url}/-/metrics`)).text();

/** Where rate-limiter-flexible keeps a job's count: `<keyPrefix>limit:<rule>` + ':' + job. */
const counterKey = (prefix: string, job: string, rule = 'default'): string => `${prefix}limit:${rule}:${job}`;

const LIMITS = { limits: { default: { pushes: 3, windowSeconds: 600 } } };

let cluster: RedisCluster | undefined;
let sentinel: RedisSentinel | undefined;
let clusterClient: Cluster;
let sentinelClient: Redis;

beforeAll(async () => {
  cluster = await startRedisCluster();
  sentinel = await startRedisSentinel();

  clusterClient = createRedisClient({ cluster: cluster.nodes, keyPrefix: 'cluster:', commandTimeoutMs: 500, connectTimeoutMs: 1_000 }) as Cluster;
  // Failures surface through the store; this only keeps ioredis from reporting unhandled errors.
  clusterClient.on('error', () => {});
  sentinelClient = createRedisClient({
    sentinels: sentinel.sentinels,
    sentinelName: sentinel.name,
    keyPrefix: 'sentinel:',
    commandTimeoutMs: 500,
    connectTimeoutMs: 1_000,
  }) as Redis;
  sentinelClient.on('error', () => {});
  expect(await waitForRedisReady(clusterClient, 10_000)).toBe(true);
  expect(await waitForRedisReady(sentinelClient, 10_000)).toBe(true);
});

afterAll(async () => {
  clusterClient?.disconnect();
  sentinelClient?.disconnect();
  // Both, even when one fails to close.
  const closed = await Promise.allSettled([cluster?.close(), sentinel?.close()]);
  for (const result of closed) if (result.status === 'rejected') throw result.reason;
});

let stores = 0;
describeWindowStoreContract('the Redis store on Redis Cluster', () => createRedisStore(clusterClient, `contract-cluster-${++stores}:`));
describeWindowStoreContract('the Redis store on Redis Sentinel', () => createRedisStore(sentinelClient, `contract-sentinel-${++stores}:`));

describe('the Redis store on Redis Cluster and Redis Sentinel', () => {
  it('spreads the counters of many jobs over every master of the cluster', async () => {
    const prefix = 'spread:';
    const store = createRedisStore(clusterClient, prefix);
    const rule = { name: 'spread', pushes: 5, windowSeconds: 600 };
    const jobs = Array.from({ length: 30 }, (_, i) => `job-${i}`);
    for (const job of jobs) expect((await store.consume(rule, job)).allowed).toBe(true);

    // Each key read back from the node that serves its slot, without redirections.
    const perNode = await Promise.all(
      cluster!.nodes.map(async (node) => {
        const nodeClient = clusterClient.nodes('master').find((n) => n.options.port === node.port);
        expect(nodeClient, `a connection to the master on port ${node.port}`).toBeDefined();
        return nodeClient!.keys(`${prefix}*`);
      }),
    );
    expect(perNode.flat().sort()).toEqual(jobs.map((job) => counterKey(prefix, job, 'spread')).sort());
    for (const keys of perNode) expect(keys.length).toBeGreaterThan(0);
  });

  it('counts, through Sentinel, in the master that Sentinel names', async () => {
    const prefix = 'through-sentinel:';
    const store = createRedisStore(sentinelClient, prefix);
    const rule = { name: 'default', pushes: 5, windowSeconds: 600 };
    for (let i = 0; i < 2; i++) expect((await store.consume(rule, 'job')).allowed).toBe(true);
    // ioredis keeps its own options (port 6379) in Sentinel mode: ask the server it talks to.
    expect(await sentinelClient.call('CONFIG', 'GET', 'port')).toEqual(['port', String(sentinel!.master.port)]);
    const direct = createRedisClient({ url: sentinel!.master.url, keyPrefix: '', commandTimeoutMs: 1_000, connectTimeoutMs: 1_000 }) as Redis;
    direct.on('error', () => {});
    try {
      expect(await waitForRedisReady(direct)).toBe(true);
      expect(await direct.get(counterKey(prefix, 'job'))).toBe('2');
    } finally {
      direct.disconnect();
    }
  });
});

describe.each([
  { topology: 'Redis Cluster', client: (): Redis | Cluster => clusterClient },
  { topology: 'Redis Sentinel', client: (): Redis | Cluster => sentinelClient },
])('a front door limiting through $topology', ({ topology, client }) => {
  let door: FrontDoor | undefined;
  const prefix = `door-${topology.replace(/\W/g, '-')}:`;
  beforeAll(async () => {
    door = await startFrontDoor({ shards: 1, config: LIMITS, sharedLimitStore: createRedisStore(client(), prefix) });
  });
  afterAll(async () => {
    await door?.close();
  });

  it('refuses the 4th push of a job with 429, counted in Redis', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await push(door!, 'four-pushes')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await client().get(counterKey(prefix, 'four-pushes'))).toBe('4');
    const metrics = await selfMetrics(door!);
    expect(metrics).toMatch(/^pushring_limit_store_up 1$/m);
    expect(metrics).toMatch(/^pushring_limit_store_errors_total 0$/m);
    expect(metrics).toMatch(/^pushring_pushes_limited_total\{rule="default"\} 1$/m);
  });
});

describe('a frozen Redis (SIGSTOP) with onStoreError local', () => {
  let redis: RedisServer | undefined;
  let client: Redis | undefined;
  let door: FrontDoor | undefined;
  const prefix = 'frozen:';
  afterAll(async () => {
    // SIGKILL ends a stopped process too; SIGCONT first only so that nothing waits on it meanwhile.
    redis?.process.cont();
    try {
      await door?.close();
    } finally {
      client?.disconnect();
      await redis?.close();
    }
  });

  it('answers every push (limited locally while frozen), then limits through Redis again once it thaws', async () => {
    redis = await startRedis();
    client = createRedisClient({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 200, connectTimeoutMs: 1_000 }) as Redis;
    client.on('error', () => {});
    expect(await waitForRedisReady(client)).toBe(true);
    door = await startFrontDoor({
      shards: 1,
      config: { limits: { ...LIMITS.limits, onStoreError: 'local' } },
      sharedLimitStore: createRedisStore(client, prefix),
    });

    const before = [];
    for (let i = 0; i < 2; i++) before.push((await push(door, 'frozen-job')).status);
    expect(before).toEqual([200, 200]);
    expect(await client.get(counterKey(prefix, 'frozen-job'))).toBe('2');

    redis.process.stop();
    const during = [];
    // A hang would end at the test time-out; every push must get an answer before that.
    for (let i = 0; i < 5; i++) during.push((await push(door, 'frozen-job')).status);
    for (const status of during) expect([200, 429]).toContain(status);
    expect(during).toContain(429);
    // The local limiter knew nothing of the 2 pushes Redis counted: it allows 3 afresh.
    expect(during).toEqual([200, 200, 200, 429, 429]);
    const frozenMetrics = await selfMetrics(door);
    expect(frozenMetrics).toMatch(/^pushring_limit_store_up 0$/m);
    expect(frozenMetrics).toMatch(/^pushring_limit_store_errors_total 5$/m);

    redis.process.cont();
    await waitFor(
      async () => {
        await push(door!, 'thaw-probe');
        return /^pushring_limit_store_up 1$/m.test(await selfMetrics(door!));
      },
      { what: 'the front door to count a push in Redis again', timeoutMs: 20_000, intervalMs: 100 },
    );

    // Shared limiting is back: a fresh job's pushes are counted in Redis and limited there.
    const after = [];
    for (let i = 0; i < 4; i++) after.push((await push(door, 'after-thaw')).status);
    expect(after).toEqual([200, 200, 200, 429]);
    expect(await client.get(counterKey(prefix, 'after-thaw'))).toBe('4');
  });
});
