/**
 * The contract every HintStore keeps (its doc comment in src/reconcile/hints.ts), run on each
 * implementation by test/behaviour/store-contracts.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { collapseHints, type Hint, type HintEvents, type HintStore } from '../../src/reconcile/hints.js';
import { waitFor } from '../helpers/processes.js';
import type { ContractOptions, Make } from './fixture.js';

export type MakeHintStore = Make<[limits: { maxPerReplica: number }, events: HintEvents], HintStore>;

/** What a store told its events; a Redis store tells them once its command has answered. */
interface Counted {
  queued: number;
  dropped: number;
  readonly events: HintEvents;
  /** Resolves once `queued` hints were accepted (and the drops that made room for them counted). */
  settle(queued: number): Promise<void>;
}

function countEvents(): Counted {
  const counted: Counted = {
    queued: 0,
    dropped: 0,
    events: { queued: () => void counted.queued++, dropped: (n) => void (counted.dropped += n) },
    settle: async (queued) => {
      await waitFor(async () => counted.queued >= queued, { what: `${queued} hints to be queued (${counted.queued} so far)`, timeoutMs: 5_000, intervalMs: 5 });
    },
  };
  return counted;
}

let unique = 0;
/** A replica id no other test uses (stores may share one Redis). */
const replica = (): string => `s${++unique}/0`;

const hint = (group: string, method: Hint['method'], body: string | null = method === 'DELETE' ? null : `${group} ${method}`, at = 1_000): Hint => ({
  group,
  method,
  path: `/metrics/job/${group}`,
  headers: ['content-type', 'text/plain; version=0.0.4'],
  body: body === null ? null : Buffer.from(body),
  at,
});

/** What identifies a hint in an assertion. */
const show = (hints: readonly Hint[]): string[] => hints.map((h) => `${h.group} ${h.method} ${h.body?.toString() ?? '-'}`);

export function describeHintStoreContract(
  name: string,
  makeStore: MakeHintStore,
  options: ContractOptions<[limits: { maxPerReplica: number }, events: HintEvents], HintStore> = {},
): void {
  const roomy = { maxPerReplica: 1_000 };

  describe(`${name} keeps the hint-store contract`, () => {
    it('drains a replica’s hints in the order they were added', async () => {
      const counted = countEvents();
      const store = makeStore(roomy, counted.events);
      const r = replica();
      const groups = Array.from({ length: 20 }, (_, i) => `g${(i * 7) % 20}`);
      for (const g of groups) store.add(r, hint(g, 'POST'));
      expect(show(await store.drain(r))).toEqual(show(groups.map((g) => hint(g, 'POST'))));
      await counted.settle(20);
      expect(counted).toMatchObject({ queued: 20, dropped: 0 });
    });

    it('drains exactly what collapseHints makes of the hints added, for any sequence of pushes', async () => {
      const push = fc.record({
        group: fc.constantFrom('a', 'b', 'c', 'd'),
        method: fc.constantFrom<Hint['method']>('PUT', 'POST', 'DELETE'),
        body: fc.string({ maxLength: 8 }),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(push, { maxLength: 25 }), async (pushes) => {
          const store = makeStore(roomy, countEvents().events);
          const r = replica();
          const added = pushes.map((p, i) => hint(p.group, p.method, p.method === 'DELETE' ? null : `${i}:${p.body}`, i));
          for (const h of added) store.add(r, h);
          expect(show(await store.drain(r))).toEqual(show(collapseHints(added)));
        }),
        { numRuns: 30 },
      );
    });

    it('keeps every field of a hint: method, path, headers, body bytes and arrival time', async () => {
      const store = makeStore(roomy, countEvents().events);
      const r = replica();
      const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const put: Hint = {
        group: '{job="bin"}',
        method: 'PUT',
        path: '/metrics/job/bin/x@base64/YQ==',
        headers: ['content-type', 'application/vnd.google.protobuf', 'content-encoding', 'gzip'],
        body: binary,
        at: 1_712_345_678_901,
      };
      const del: Hint = { group: '{job="gone"}', method: 'DELETE', path: '/metrics/job/gone', headers: [], body: null, at: 7 };
      store.add(r, put);
      store.add(r, del);
      expect(await store.drain(r)).toEqual([put, del]);
    });

    it('keeps each replica’s hints apart', async () => {
      const store = makeStore(roomy, countEvents().events);
      const [one, two] = [replica(), replica()];
      store.add(one, hint('a', 'PUT'));
      store.add(two, hint('b', 'PUT'));
      store.add(one, hint('c', 'PUT'));
      expect(show(await store.drain(one))).toEqual(['a PUT a PUT', 'c PUT c PUT']);
      expect(show(await store.drain(two))).toEqual(['b PUT b PUT']);
    });

    it('forgets a group’s earlier hints on its PUT or DELETE: they take no room and are not dropped', async () => {
      const counted = countEvents();
      const store = makeStore({ maxPerReplica: 3 }, counted.events);
      const r = replica();
      // h is the oldest: had g's superseded hints taken room, h would have been dropped for them.
      store.add(r, hint('h', 'PUT', 'h1'));
      store.add(r, hint('g', 'PUT', 'g1'));
      store.add(r, hint('g', 'POST', 'g2'));
      store.add(r, hint('g', 'DELETE'));
      store.add(r, hint('g', 'POST', 'g4'));
      await counted.settle(5);
      expect(counted).toMatchObject({ queued: 5, dropped: 0 });
      expect(show(await store.drain(r))).toEqual(['h PUT h1', 'g DELETE -', 'g POST g4']);
    });

    it('when full, drops the oldest hints and keeps the newest, counting every one dropped', async () => {
      const counted = countEvents();
      const store = makeStore({ maxPerReplica: 3 }, counted.events);
      const r = replica();
      for (let i = 0; i < 5; i++) store.add(r, hint(`g${i}`, 'PUT'));
      await counted.settle(5);
      expect(counted).toMatchObject({ queued: 5, dropped: 2 });
      expect(show(await store.drain(r))).toEqual(['g2 PUT g2 PUT', 'g3 PUT g3 PUT', 'g4 PUT g4 PUT']);
    });

    it('drops the oldest hint even when it starts its group: the group’s later hints stay, in order', async () => {
      const counted = countEvents();
      const store = makeStore({ maxPerReplica: 2 }, counted.events);
      const r = replica();
      store.add(r, hint('g', 'PUT', 'base'));
      store.add(r, hint('h', 'POST', 'h1'));
      store.add(r, hint('g', 'POST', 'g2'));
      store.add(r, hint('g', 'POST', 'g3'));
      await counted.settle(4);
      expect(counted.dropped).toBe(2);
      expect(show(await store.drain(r))).toEqual(['g POST g2', 'g POST g3']);
    });

    it('bounds each replica on its own', async () => {
      const counted = countEvents();
      const store = makeStore({ maxPerReplica: 2 }, counted.events);
      const [one, two] = [replica(), replica()];
      for (let i = 0; i < 3; i++) store.add(one, hint(`g${i}`, 'PUT'));
      store.add(two, hint('x', 'PUT'));
      await counted.settle(4);
      expect(counted.dropped).toBe(1);
      expect(show(await store.drain(two))).toEqual(['x PUT x PUT']);
      expect(show(await store.drain(one))).toEqual(['g1 PUT g1 PUT', 'g2 PUT g2 PUT']);
    });

    it('keeps nothing with maxPerReplica 0, counting each hint as dropped', async () => {
      const counted = countEvents();
      const store = makeStore({ maxPerReplica: 0 }, counted.events);
      const r = replica();
      for (let i = 0; i < 3; i++) store.add(r, hint(`g${i}`, 'PUT'));
      await waitFor(async () => counted.dropped === 3, { what: 'three hints to be dropped', timeoutMs: 5_000 });
      expect(counted.queued).toBe(0);
      expect(await store.drain(r)).toEqual([]);
    });

    it('hands each hint to one drain only: a second drain is empty, and later hints wait for the next', async () => {
      const store = makeStore(roomy, countEvents().events);
      const r = replica();
      expect(await store.drain(r)).toEqual([]);
      store.add(r, hint('a', 'PUT'));
      expect(show(await store.drain(r))).toEqual(['a PUT a PUT']);
      expect(await store.drain(r)).toEqual([]);
      store.add(r, hint('b', 'POST'));
      expect(show(await store.drain(r))).toEqual(['b POST b POST']);
    });

    it('splits hints added while drains run between them, each hint in exactly one drain, in order', async () => {
      const store = makeStore(roomy, countEvents().events);
      const r = replica();
      const drains: Array<Promise<Hint[]>> = [];
      for (let i = 0; i < 60; i++) {
        store.add(r, hint(`g${i}`, 'PUT'));
        if (i % 7 === 3) drains.push(store.drain(r));
      }
      drains.push(store.drain(r));
      const drained = (await Promise.all(drains)).flat();
      expect(drained.map((h) => h.group)).toEqual(Array.from({ length: 60 }, (_, i) => `g${i}`));
    });

    if (options.sharing !== undefined) {
      const sharing = options.sharing;

      it('drains, through any front door sharing the store, the hints every one of them added', async () => {
        const make = sharing();
        const [a, b] = [countEvents(), countEvents()];
        const [one, two] = [make(roomy, a.events), make(roomy, b.events)];
        const r = replica();
        one.add(r, hint('first', 'PUT'));
        await a.settle(1);
        two.add(r, hint('second', 'PUT'));
        await b.settle(1);
        one.add(r, hint('third', 'POST'));
        await a.settle(2);
        expect(show(await two.drain(r))).toEqual(['first PUT first PUT', 'second PUT second PUT', 'third POST third POST']);
        expect(await one.drain(r)).toEqual([]);
      });

      it('bounds a replica once for every front door sharing the store, keeping the newest hints', async () => {
        const make = sharing();
        const [a, b] = [countEvents(), countEvents()];
        const [one, two] = [make({ maxPerReplica: 3 }, a.events), make({ maxPerReplica: 3 }, b.events)];
        const r = replica();
        for (let i = 0; i < 3; i++) one.add(r, hint(`a${i}`, 'PUT'));
        await a.settle(3);
        for (let i = 0; i < 2; i++) two.add(r, hint(`b${i}`, 'PUT'));
        await b.settle(2);
        expect(a.dropped + b.dropped).toBe(2);
        expect(show(await one.drain(r)).map((s) => s.split(' ')[0])).toEqual(['a2', 'b0', 'b1']);
      });

      it('lets a group’s PUT through one front door supersede its hints added through another', async () => {
        const make = sharing();
        const [a, b] = [countEvents(), countEvents()];
        const [one, two] = [make(roomy, a.events), make(roomy, b.events)];
        const r = replica();
        one.add(r, hint('g', 'POST', 'old'));
        await a.settle(1);
        two.add(r, hint('g', 'PUT', 'new'));
        await b.settle(1);
        expect(show(await one.drain(r))).toEqual(['g PUT new']);
      });

      it('hands each hint to one drain even when front doors drain at once', async () => {
        const make = sharing();
        const counted = countEvents();
        const [one, two] = [make(roomy, counted.events), make(roomy, countEvents().events)];
        const r = replica();
        for (let i = 0; i < 40; i++) one.add(r, hint(`g${i}`, 'PUT'));
        await counted.settle(40);
        const drained = (await Promise.all([one.drain(r), two.drain(r), one.drain(r), two.drain(r)])).flat();
        expect(drained.map((h) => h.group).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `g${i}`).sort());
      });
    }

    if (options.outage !== undefined) {
      const outage = options.outage;

      it('while the store is unreachable, counts each hint it cannot keep as dropped and rejects drains; once it is back, both work again', async () => {
        const fixture = await outage();
        const counted = countEvents();
        const store = fixture.make(roomy, counted.events);
        const r = replica();
        await fixture.down();
        expect(() => store.add(r, hint('lost', 'PUT'))).not.toThrow();
        await waitFor(async () => counted.dropped === 1, { what: 'the hint to be counted as dropped', timeoutMs: 5_000 });
        expect(counted.queued).toBe(0);
        await expect(store.drain(r)).rejects.toThrow();
        await fixture.up();
        store.add(r, hint('kept', 'PUT'));
        await counted.settle(1);
        expect(show(await store.drain(r))).toEqual(['kept PUT kept PUT']);
      });
    }
  });
}
