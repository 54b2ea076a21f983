/**
 * An ioredis client that fails fast: while Redis is unreachable a command fails at once (no
 * offline queue, no per-command retries, a short command time-out) instead of holding pushes;
 * the client keeps reconnecting in the background with a bounded back-off.
 *
 * With Redis Cluster, ioredis gives each node connection its own queueing and retry settings,
 * so a dead node's slots fail after commandTimeoutMs rather than at once (measured: 300 ms with a
 * 300 ms time-out); slots of live nodes are unaffected.
 */
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/schema.js';

/** Reconnection delay: quick at first, every 2 s at most. */
const backOff = (attempt: number): number => Math.min(attempt * 100, 2_000);

export function createRedisClient(config: RedisConfig): Redis | Cluster {
  const options: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: config.commandTimeoutMs,
    connectTimeout: config.connectTimeoutMs,
    retryStrategy: backOff,
    ...(config.password === undefined ? {} : { password: config.password }),
  };
  if (config.cluster !== undefined) {
    return new Cluster(config.cluster, {
      enableOfflineQueue: false,
      clusterRetryStrategy: backOff,
      redisOptions: options,
    });
  }
  if (config.sentinels !== undefined) {
    return new Redis({
      ...options,
      sentinels: config.sentinels,
      name: config.sentinelName ?? 'mymaster',
      ...(config.sentinelPassword === undefined ? {} : { sentinelPassword: config.sentinelPassword }),
    });
  }
  return new Redis(config.url ?? 'redis://127.0.0.1:6379', options);
}

/** Resolves once the client is ready, or after `timeoutMs` (it keeps connecting after that). */
export function waitForRedisReady(client: Redis | Cluster, timeoutMs = 2_000): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}
