import { describe, expect, it } from 'vitest';
import { createFailureLimiter } from '../../src/auth/failures.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('the failed-authentication limiter', () => {
  it('throttles an address after perAddress failures until its window ends, then forgets it', () => {
    const c = clock();
    const limiter = createFailureLimiter({ perAddress: 3, windowSeconds: 60, maxAddresses: 100 }, c.now);
    for (let i = 0; i < 2; i++) limiter.fail('10.0.0.1');
    expect(limiter.retryAfterS('10.0.0.1')).toBe(0);
    limiter.fail('10.0.0.1');
    expect(limiter.retryAfterS('10.0.0.1')).toBe(60);
    expect(limiter.retryAfterS('10.0.0.2')).toBe(0);
    expect(limiter.throttledAddresses()).toBe(1);
    c.advance(59_001);
    expect(limiter.retryAfterS('10.0.0.1')).toBe(1);
    c.advance(999);
    expect(limiter.retryAfterS('10.0.0.1')).toBe(0);
    expect(limiter.throttledAddresses()).toBe(0);
    limiter.fail('10.0.0.1');
    expect(limiter.retryAfterS('10.0.0.1')).toBe(0);
  });

  it('rounds Retry-After up, so a client that waits it out is let through', () => {
    const c = clock();
    const limiter = createFailureLimiter({ perAddress: 1, windowSeconds: 10, maxAddresses: 100 }, c.now);
    limiter.fail('a');
    c.advance(8_500);
    expect(limiter.retryAfterS('a')).toBe(2);
  });

  it('tracks at most maxAddresses, forgetting the oldest first', () => {
    const c = clock();
    const limiter = createFailureLimiter({ perAddress: 1, windowSeconds: 60, maxAddresses: 100 }, c.now);
    for (let i = 0; i < 250; i++) {
      limiter.fail(`10.0.${i >> 8}.${i & 255}`);
      c.advance(1);
    }
    expect(limiter.size()).toBe(100);
    expect(limiter.retryAfterS('10.0.0.149')).toBe(0);
    expect(limiter.retryAfterS('10.0.0.150')).toBeGreaterThan(0);
    expect(limiter.retryAfterS('10.0.0.249')).toBeGreaterThan(0);
  });

  it('starts a fresh window once the old one has ended', () => {
    const c = clock();
    const limiter = createFailureLimiter({ perAddress: 2, windowSeconds: 1, maxAddresses: 100 }, c.now);
    limiter.fail('old');
    c.advance(1_000);
    limiter.fail('old');
    expect(limiter.retryAfterS('old')).toBe(0);
    limiter.fail('old');
    expect(limiter.retryAfterS('old')).toBe(1);
  });
});
