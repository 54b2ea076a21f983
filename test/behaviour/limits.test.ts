/**
 * Per-job rate limits against real Pushgateways and a real redis-server.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, waitForRedisReady } from '../../src/limits/redis-client.js';
import { createRedisStore } from '../../src/limits/redis-store.js';
import { describeWindowStoreContract } from '../contracts/window-store.js';
import { freePort, spawnProcess, tempDir, waitFor, type ManagedProcess } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

let redis: RedisServer;
const clients: Redis[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis?.close();
});

let contractClient: Redis;
beforeAll(async () => {
  contractClient = createRedisClient({ url: redis.url, keyPrefix: 'contract:', commandTimeoutMs: 250, connectTimeoutMs: 1_000 }) as Redis;
  clients.push(contractClient);
  await waitForRedisReady(contractClient);
});
let stores = 0;
describeWindowStoreContract('the Redis store', () => createRedisStore(contractClient, `contract-${++stores}:`));

const push = (door: { url: string }, job: string, method = 'PUT') =>
  send(door.url, { method, path: `/metrics/job/${job}`, headers: { 'content-type': 'text/plain' }, body: 'limited_metric 1\n' });

describe('limits in one front door (memory store)', () => {
  let door: FrontDoor;
  beforeAll(async () => {
    door = await startFrontDoor({
      shards: 1,
      config: {
        limits: {
          default: { pushes: 3, windowSeconds: 600 },
          rules: [
            { jobs: 'critical-*', exempt: true },
            { name: 'nightly', jobs: 'nightly-*', pushes: 1, windowSeconds: 600 },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await door?.close();
  });

  it('refuses pushes over the default limit with 429, Retry-After and rate-limit headers, and never forwards them', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await push(door, 'hourly')).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const res = await fetch(`${door.url}/metrics/job/hourly`, { method: 'PUT', body: 'limited_metric 2\n' });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(590);
    expect(res.headers.get('x-ratelimit-limit')).toBe('3');
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(res.headers.get('x-pushring-error')).toBe('PUSHRING_RATE_LIMITED');
    expect(await res.text()).toMatch(/^pushring: job "hourly" is over its limit of 3 pushes per 600s \(rule "default"\)/);
    const stored = await door.backends[0]![0]!.groups();
    expect(stored.find((g) => g.labels.job === 'hourly')?.metrics['limited_metric']).toMatchObject({ metrics: [expect.objectContaining({ value: '1' })] });
  });

  it('applies the first matching rule and never limits exempt jobs or DELETEs', async () => {
    expect((await push(door, 'nightly-backup')).status).toBe(200);
    expect((await push(door, 'nightly-backup')).status).toBe(429);
    expect((await push(door, 'nightly-other')).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await push(door, 'critical-db')).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await push(door, 'nightly-backup', 'DELETE')).status).toBe(202);
  });

  it('counts limited pushes by rule in the self-metrics', async () => {
    const metrics = await (await fetch(`${door.url}/-/metrics`)).text();
    expect(metrics).toMatch(/pushring_pushes_limited_total\{rule="default"\} 3/);
    expect(metrics).toMatch(/pushring_pushes_limited_total\{rule="nightly"\} 1/);
  });
});

describe('limits shared by two front door processes through Redis', () => {
  const processes: ManagedProcess[] = [];
  const backends: Pushgateway[] = [];
  afterEach(async () => {
    for (const p of processes.splice(0)) {
      p.kill();
      await p.exited;
    }
    await Promise.all(backends.splice(0).map((b) => b.close()));
  });

  /** `judgeByBackends`: the backends judge (checked), so that Redis decides nothing but the limits. */
  async function startTwoFrontDoors(limits: string, judgeByBackends = false): Promise<string[]> {
    const args = judgeByBackends ? [] : ['--push.disable-consistency-check'];
    backends.push(await startPushgateway({ args }), await startPushgateway({ args }));
    const dir = await tempDir('pushring-limits-');
    const keyPrefix = `two-doors-${Date.now()}:`;
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const file = join(dir, `front-door-${i}.yaml`);
      await writeFile(
        file,
        [
          `listen: "127.0.0.1:${port}"`,
          'log: { level: warn }',
          `redis: { url: "${redis.url}", keyPrefix: "${keyPrefix}" }`,
          limits,
          ...(judgeByBackends ? ['judge: { mode: backends }'] : []),
          'shards:',
          `  - { name: a, replicas: ["${backends[0]!.url}", "${backends[1]!.url}"] }`,
        ].join('\n'),
      );
      processes.push(spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', file], { logFile: join(dir, `front-door-${i}.log`) }));
      urls.push(`http://127.0.0.1:${port}`);
    }
    for (const url of urls) await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { what: `${url} to be ready`, timeoutMs: 15_000 });
    return urls;
  }

  it('enforces one global limit: 200 pushes spread over both, 50 accepted and 150 limited', async () => {
    // A 10-minute window: the run takes seconds, so no window edge falls inside it.
    const urls = await startTwoFrontDoors('limits: { default: { pushes: 50, windowSeconds: 600 } }');
    const statuses = await Promise.all(Array.from({ length: 200 }, (_, i) => push({ url: urls[i % 2]! }, 'shared-job').then((r) => r.status)));
    // Judged in the front door (the index in the same Redis): a stored push is answered 200.
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 429)).toHaveLength(150);
  });

  it('lets pushes through while Redis is down, then limits again once it is back', async () => {
    // The limits alone: judging in the front door fails closed while its index (Redis) is away.
    const urls = await startTwoFrontDoors('limits: { default: { pushes: 5, windowSeconds: 600 }, onStoreError: open }', true);
    const first = [];
    for (let i = 0; i < 8; i++) first.push((await push({ url: urls[i % 2]! }, 'outage-job')).status);
    expect(first).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);

    await redis.kill();
    // Not one push may fail because Redis is gone (policy open: no limit meanwhile).
    const during = [];
    for (let i = 0; i < 20; i++) during.push((await push({ url: urls[i % 2]! }, 'outage-job')).status);
    expect(during).toEqual(Array.from({ length: 20 }, () => 200));
    const metrics = await (await fetch(`${urls[0]}/-/metrics`)).text();
    expect(metrics).toMatch(/pushring_limit_store_up 0/);

    await redis.restart();
    // Redis came back empty: the window starts again, and both front doors share it again.
    for (const url of urls) {
      await waitFor(
        async () => {
          await push({ url }, 'reconnect-probe');
          return /pushring_limit_store_up 1/.test(await (await fetch(`${url}/-/metrics`)).text());
        },
        { what: `${url} to count pushes in Redis again` },
      );
    }
    const after = [];
    for (let i = 0; i < 8; i++) after.push((await push({ url: urls[i % 2]! }, 'after-outage-2')).status);
    expect(after).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
  });
});

describe('Redis failure with the local policy', () => {
  let door: FrontDoor | undefined;
  afterEach(async () => {
    await door?.close();
  });

  it('keeps limiting per front door while Redis is unreachable', async () => {
    const gone = await startRedis();
    const client = createRedisClient({ url: gone.url, keyPrefix: 'p:', commandTimeoutMs: 250, connectTimeoutMs: 500 }) as Redis;
    client.on('error', () => {});
    clients.push(client);
    await gone.close();
    door = await startFrontDoor({
      shards: 1,
      config: { limits: { default: { pushes: 2, windowSeconds: 600 } } },
      sharedLimitStore: createRedisStore(client, 'p:'),
    });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await push(door, 'local-job')).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
  });
});
