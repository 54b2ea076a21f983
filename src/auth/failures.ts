/**
 * Guessing is slow (config `auth.failures`): failed authentications counted per client address in
 * a fixed window; past `perAddress` of them the address is refused until its window ends. Memory
 * is bounded by `maxAddresses`: a Map keeps insertion order, so the oldest window is forgotten
 * first (an attacker who cycles through more addresses than that gets a fresh window on some —
 * the bound on memory is the point; the limit per address still slows every single one).
 */
import type { AuthConfig } from '../config/schema.js';

export interface FailureLimiter {
  /** Whole seconds until `address` may authenticate again; 0 when it is not throttled. */
  retryAfterS(address: string): number;
  /** One failed authentication from `address`. */
  fail(address: string): void;
  /** Addresses over their limit now (for a gauge; O(addresses), read at scrape time). */
  throttledAddresses(): number;
  /** Addresses tracked now (at most `maxAddresses`). */
  size(): number;
}

interface Window {
  readonly start: number;
  failures: number;
}

export function createFailureLimiter(config: AuthConfig['failures'], now: () => number = Date.now): FailureLimiter {
  const windowMs = config.windowSeconds * 1000;
  const windows = new Map<string, Window>();
  const current = (address: string, t: number): Window | undefined => {
    const w = windows.get(address);
    if (w === undefined) return undefined;
    if (t - w.start < windowMs) return w;
    windows.delete(address);
    return undefined;
  };
  return {
    retryAfterS(address) {
      const t = now();
      const w = current(address, t);
      if (w === undefined || w.failures < config.perAddress) return 0;
      return Math.max(1, Math.ceil((w.start + windowMs - t) / 1000));
    },
    fail(address) {
      const t = now();
      const w = current(address, t);
      if (w !== undefined) {
        w.failures++;
        return;
      }
      if (windows.size >= config.maxAddresses) windows.delete(windows.keys().next().value!);
      windows.set(address, { start: t, failures: 1 });
    },
    throttledAddresses() {
      const t = now();
      let n = 0;
      for (const w of windows.values()) if (t - w.start < windowMs && w.failures >= config.perAddress) n++;
      return n;
    },
    size: () => windows.size,
  };
}
