/** The bytes of request bodies held at once (src/http/body-budget.ts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBodyBudget, declaredBodyBytes } from '../../src/http/body-budget.js';
import { validateConfig } from '../../src/config/load.js';

describe('the body budget', () => {
  it('takes what fits, refuses what would pass the bound without taking any of it, and gives back once', () => {
    const budget = createBodyBudget(100);
    const [a, b] = [{}, {}];
    expect(budget.take(a, 60)).toBe(true);
    expect(budget.take(b, 50)).toBe(false);
    expect(budget.held()).toBe(60);
    expect(budget.take(b, 40)).toBe(true);
    expect(budget.take(a, 1)).toBe(false);
    budget.release(a);
    budget.release(a);
    expect(budget.held()).toBe(40);
    expect(budget.take(a, 0)).toBe(true);
    budget.release(b);
    expect(budget.held()).toBe(0);
  });

  it('never holds more than its bound, and holds nothing once every request is released (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(4), fc.nat(60), fc.boolean()), { maxLength: 60 }), (steps) => {
        const budget = createBodyBudget(100);
        const requests = [{}, {}, {}, {}, {}];
        for (const [r, bytes, release] of steps) {
          if (release) budget.release(requests[r]!);
          else budget.take(requests[r]!, bytes);
          expect(budget.held()).toBeLessThanOrEqual(100);
          expect(budget.held()).toBeGreaterThanOrEqual(0);
        }
        for (const r of requests) budget.release(r);
        expect(budget.held()).toBe(0);
      }),
    );
  });

  it.each([
    [{ 'content-length': '234' }, 234],
    [{ 'content-length': '99999999999' }, 1_000],
    [{ 'transfer-encoding': 'chunked' }, 1_000],
    [{ 'content-length': '-5' }, 0],
    [{ 'content-length': '12abc' }, 0],
    [{}, 0],
  ])('reserves %j as %i bytes (largest body 1000)', (headers, bytes) => {
    expect(declaredBodyBytes(headers, 1_000)).toBe(bytes);
  });

  it('is refused in a configuration where the largest push could never fit', () => {
    const result = validateConfig({
      shards: [{ name: 'a', replicas: ['http://127.0.0.1:1'] }],
      write: { maxBodyBytes: 2 * 1024 * 1024 },
      judge: { maxInflatedBytes: 4 * 1024 * 1024 },
      server: { maxInflightBodyBytes: 5 * 1024 * 1024 },
    });
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.problems).toEqual([expect.objectContaining({ path: 'server.maxInflightBodyBytes' })]);
  });
});
