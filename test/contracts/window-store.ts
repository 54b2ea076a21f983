/**
 * The contract every rate-limit WindowStore keeps (its doc comment in src/limits/store.ts), run
 * on each implementation by test/behaviour/store-contracts.test.ts, and on Redis Cluster and
 * Sentinel by test/behaviour/redis-topologies.test.ts.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Rule } from '../../src/limits/rules.js';
import type { WindowStore } from '../../src/limits/store.js';
import { waitFor } from '../helpers/processes.js';
import type { ContractOptions } from './fixture.js';

let unique = 0;
const rule = (pushes: number, windowSeconds = 60): Rule => ({ name: `r${++unique}`, pushes, windowSeconds });

export function describeWindowStoreContract(name: string, makeStore: () => WindowStore, options: ContractOptions<[], WindowStore> = {}): void {
  describe(`${name} keeps the window-store contract`, () => {
    it('allows `pushes` pushes per window, then refuses, counting down what remains', async () => {
      const store = makeStore();
      const r = rule(3);
      const decisions = [];
      for (let i = 0; i < 5; i++) decisions.push(await store.consume(r, 'job'));
      expect(decisions.map((d) => [d.allowed, d.remaining])).toEqual([
        [true, 2],
        [true, 1],
        [true, 0],
        [false, 0],
        [false, 0],
      ]);
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

    it('counts each pair of rule and job on its own, whatever separators their names hold', async () => {
      const store = makeStore();
      const base = `sep${++unique}`;
      // Joined with ':', the first two would share a counter; with ':' written as '%3A', the last two.
      const pairs: Array<[string, string]> = [
        [base, 'b:c'],
        [`${base}:b`, 'c'],
        [`${base}%3Ab`, 'c'],
      ];
      for (const [ruleName, job] of pairs) {
        expect((await store.consume({ name: ruleName, pushes: 1, windowSeconds: 60 }, job)).allowed, `${ruleName} / ${job}`).toBe(true);
      }
    });

    it('keeps the window under way when a rule changes under its name, and judges it by the new limit', async () => {
      const store = makeStore();
      const before = rule(2);
      const after: Rule = { ...before, pushes: 3 };
      expect((await store.consume(before, 'job')).remaining).toBe(1);
      expect((await store.consume(before, 'job')).remaining).toBe(0);
      const third = await store.consume(after, 'job');
      expect([third.allowed, third.remaining]).toEqual([true, 0]);
      expect((await store.consume(after, 'job')).allowed).toBe(false);
    });

    if (options.sharing !== undefined) {
      const sharing = options.sharing;

      it('shares each window among the front doors that share the store, exactly under concurrency', async () => {
        const make = sharing();
        const [one, two] = [make(), make()];
        const r = rule(3);
        const sequential = [];
        for (let i = 0; i < 6; i++) sequential.push((await (i % 2 === 0 ? one : two).consume(r, 'shared')).allowed);
        expect(sequential).toEqual([true, true, true, false, false, false]);
        const burst = rule(10);
        const decisions = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? one : two).consume(burst, 'burst')));
        expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
      });
    }

    if (options.outage !== undefined) {
      const outage = options.outage;

      it('rejects while the store is unreachable rather than deciding, and counts again once it is back', async () => {
        const fixture = await outage();
        const store = fixture.make();
        const r = rule(2);
        expect((await store.consume(r, 'job')).allowed).toBe(true);
        await fixture.down();
        await expect(store.consume(r, 'job')).rejects.toThrow();
        await fixture.up();
        // The restarted Redis is empty: a new window opens.
        const decision = await waitFor(async () => store.consume(r, 'job'), { what: 'the store to count again', timeoutMs: 10_000 });
        expect([decision.allowed, decision.remaining]).toEqual([true, 1]);
      });
    }
  });
}
