/**
 * One reconciler at a time across front doors: a Redis key held with a time-to-live and renewed
 * by its holder at every pass; another front door takes over when the holder stops renewing
 * (it died or lost Redis). Without Redis there is nothing to share: every pass may run.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

export interface Lease {
  /** True when this front door holds the lease now (taking or renewing it). */
  acquire(): Promise<boolean>;
  release(): Promise<void>;
}

export const ALWAYS_HELD: Lease = { acquire: async () => true, release: async () => undefined };

const ACQUIRE =
  "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end " +
  "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end return 0";
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

export function createRedisLease(client: Redis | Cluster, key: string, ttlMs: number): Lease {
  const owner = randomUUID();
  return {
    async acquire() {
      // Redis down: no one can coordinate; skip the pass rather than risk two at once.
      const held = await client.eval(ACQUIRE, 1, key, owner, String(ttlMs)).catch(() => 0);
      return held === 1;
    },
    async release() {
      await client.eval(RELEASE, 1, key, owner).catch(() => undefined);
    },
  };
}
