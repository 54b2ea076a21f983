/**
 * Fixed-window counters in Redis, shared by every front door: rate-limiter-flexible's
 * RateLimiterRedis, one atomic Lua round trip per push. It resolves within the limit, rejects
 * with a RateLimiterRes over it, and with an Error when Redis failed; only the last rejects here.
 */
import type { Cluster, Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Rule } from './rules.js';
import type { WindowStore } from './store.js';

/**
 * A rule name in a key: rate-limiter-flexible joins `<keyPrefix>limit:<rule>` and the job with
 * ':', and a rule name may contain ':' (it defaults to the jobs glob), so rule `a` with job `b:c`
 * and rule `a:b` with job `c` would share a counter. Escaped, the name holds no ':' and the first
 * ':' after it ends it; names without ':' or '%' keep the keys they always had.
 */
const escapeRuleName = (name: string): string => name.replace(/%/g, '%25').replace(/:/g, '%3A');

export function createRedisStore(client: Redis | Cluster, keyPrefix: string): WindowStore {
  const limiters = new Map<Rule, RateLimiterRedis>();
  const limiterFor = (rule: Rule): RateLimiterRedis => {
    let limiter = limiters.get(rule);
    if (limiter === undefined) {
      limiter = new RateLimiterRedis({
        storeClient: client,
        keyPrefix: `${keyPrefix}limit:${escapeRuleName(rule.name)}`,
        points: rule.pushes,
        duration: rule.windowSeconds,
        // Fail at once while disconnected instead of queueing the command.
        rejectIfRedisNotReady: true,
      });
      limiters.set(rule, limiter);
    }
    return limiter;
  };
  return {
    async consume(rule, job) {
      try {
        const res = await limiterFor(rule).consume(job);
        return { allowed: true, rule, remaining: res.remainingPoints, resetMs: res.msBeforeNext };
      } catch (err) {
        if (err instanceof RateLimiterRes) return { allowed: false, rule, remaining: 0, resetMs: err.msBeforeNext };
        throw err;
      }
    },
    async close() {
      limiters.clear();
    },
  };
}
