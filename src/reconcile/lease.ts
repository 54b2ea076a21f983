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
  /**
   * True when the last acquire() took the lease rather than renewed it: another reconciler may
   * have run passes since this one's last.
   */
  readonly taken: boolean;
  release(): Promise<void>;
}

export const ALWAYS_HELD: Lease = { acquire: async () => true, taken: false, release: async () => undefined };

const ACQUIRE =
  "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end " +
  "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 2 end return 0";
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/** The lease `<keyPrefix>reconcile-lease`. */
export function createRedisLease(client: Redis | Cluster, keyPrefix: string, ttlMs: number): Lease {
  const key = `${keyPrefix}reconcile-lease`;
  const owner = randomUUID();
  let taken = false;
  return {
    async acquire() {
      // Redis down: no one can coordinate; skip the pass rather than risk two at once.
      const held = await client.eval(ACQUIRE, 1, key, owner, String(ttlMs)).catch(() => 0);
      taken = held === 2;
      return held !== 0;
    },
    get taken() {
      return taken;
    },
    async release() {
      await client.eval(RELEASE, 1, key, owner).catch(() => undefined);
    },
  };
}
