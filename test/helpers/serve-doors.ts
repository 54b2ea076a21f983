/**
 * Front doors as real `pushring serve` processes over one real redis-server and the Pushgateways a
 * test starts: one shard `a` of backends[0] and backends[1]. Registers the hooks that start Redis
 * once and kill every door and backend after each test.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { freePort, spawnProcess, tempDir, waitFor, type ManagedProcess } from './processes.js';
import type { Pushgateway } from './pushgateway.js';
import { startRedis, type RedisServer } from './redis.js';

export interface ServeDoors {
  /** A client of the suite's Redis (read what the doors keep there). */
  client(): Redis;
  /** The suite's redis-server itself (stop it, kill it). */
  redis(): RedisServer;
  /** The test's Pushgateways: push the two of shard `a` before starting a door. */
  readonly backends: Pushgateway[];
  /** A front door with Redis key prefix `prefix`, ready to take pushes. */
  start(prefix: string, intervalSeconds: number): Promise<{ url: string; process: ManagedProcess }>;
}

export function useServeDoors(): ServeDoors {
  let redis: RedisServer | undefined;
  let client: Redis | undefined;
  const backends: Pushgateway[] = [];
  const doors: ManagedProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterEach(async () => {
    for (const d of doors.splice(0)) {
      d.kill();
      await d.exited;
    }
    await Promise.all(backends.splice(0).map((b) => b.close()));
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.close();
  });
  return {
    client: () => client!,
    redis: () => redis!,
    backends,
    async start(prefix, intervalSeconds) {
      const door = await startServe({
        redisUrl: redis!.url,
        prefix,
        replicas: [backends[0]!, backends[1]!],
        lines: ['log: { level: warn }', 'health: { intervalMs: 200, timeoutMs: 300 }', `reconcile: { intervalSeconds: ${intervalSeconds} }`],
      });
      doors.push(door.process);
      return door;
    },
  };
}

/**
 * One `pushring serve` process over shard `a` of `replicas`, with Redis key prefix `prefix` and the
 * given configuration lines, ready to take pushes. The caller kills `process`.
 */
export async function startServe(options: {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly replicas: readonly [Pushgateway, Pushgateway];
  readonly lines: readonly string[];
}): Promise<{ url: string; process: ManagedProcess; logFile: string }> {
  const dir = await tempDir('pushring-door-');
  const port = await freePort();
  const file = join(dir, 'pushring.yaml');
  const [r0, r1] = options.replicas;
  await writeFile(
    file,
    [
      `listen: "127.0.0.1:${port}"`,
      `redis: { url: "${options.redisUrl}", keyPrefix: "${options.prefix}" }`,
      ...options.lines,
      'shards:',
      `  - { name: a, replicas: ["${r0.url}", "${r1.url}"] }`,
    ].join('\n'),
  );
  const logFile = join(dir, 'serve.log');
  const door = spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', file], { logFile });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { what: `${url} to be ready`, timeoutMs: 15_000 });
  return { url, process: door, logFile };
}
