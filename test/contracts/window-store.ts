/**
 * The contract every rate-limit WindowStore keeps; run against the memory store (unit) and the
 * Redis store with a real redis-server (behaviour).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Rule } from '../../src/limits/rules.js';
import type { WindowStore } from '../../src/limits/store.js';

let unique = 0;
const rule = (pushes: number, windowSeconds = 60): Rule => ({ name: `r${++unique}`, pushes, windowSeconds });

export function describeWindowStoreContract(name: string, makeStore: () => WindowStore): void {
  describe(`${name} keeps the window-store contract`, () => {
    it('allows `pushes` pushes per window, then refuses, counting down what remains', async () => {
      const store = makeStore();
      const r = rule(3);
      const decisions = [];
      for (let i = 0; i < 5; i++) decisions.push(await store.consume(r, 'job'));
      expect(decisions.map((d) => [d.allowed, d.remaining])).toEqual([[true, 2], [true, 1], [true, 0], [false, 0], [false, 0]]);
      for (const d of decisions) {
        expect(d.rule).toBe(r);
        expect(d.resetMs).toBeGreaterThan(0);
        expect(d.resetMs).toBeLessThanOrEqual(60_000);
      }
    });

    it('counts each job and each rule on its own', async () => {
      const store = makeStore();
      const [a, b] = [rule(1), rule(1)];
      expect((await store.consume(a, 'one')).allowed).toBe(true);
      expect((await store.consume(a, 'one')).allowed).toBe(false);
      expect((await store.consume(a, 'two')).allowed).toBe(true);
      expect((await store.consume(b, 'one')).allowed).toBe(true);
    });

    it('opens a new window once the reset time has passed', async () => {
      const store = makeStore();
      const r = rule(1, 1);
      expect((await store.consume(r, 'job')).allowed).toBe(true);
      const refused = await store.consume(r, 'job');
      expect(refused.allowed).toBe(false);
      // Waiting for a deadline the store itself announced, not for a guessed duration.
      await delay(refused.resetMs + 50);
      expect((await store.consume(r, 'job')).allowed).toBe(true);
    });

    it('allows exactly `pushes` of many concurrent pushes', async () => {
      const store = makeStore();
      const r = rule(10);
      const decisions = await Promise.all(Array.from({ length: 100 }, () => store.consume(r, 'burst')));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    });
  });
}
