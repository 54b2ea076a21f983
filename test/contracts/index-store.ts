/**
 * The contract every IndexStore keeps (its doc comment in src/judge/index-store.ts), run on each
 * implementation by test/behaviour/store-contracts.test.ts. applyChange on a Map is the reference:
 * what a store answers and holds must be what it answers and holds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyChange, type FieldValue, type IndexChange } from '../../src/core/index-table.js';
import type { IndexStore, ScanBatch } from '../../src/judge/index-store.js';
import type { ContractOptions, Make } from './fixture.js';

export type MakeIndexStore = Make<[], IndexStore>;

const change = (parts: Partial<IndexChange>): IndexChange => ({ expect: [], set: [], add: [], ...parts });

/** Walks `prefix` to the end, keeping every batch as it came. */
async function walk(store: IndexStore, prefix: string, count: number, between?: (batch: number) => Promise<void>): Promise<ScanBatch[]> {
  const batches: ScanBatch[] = [];
  let cursor = '0';
  do {
    const batch = await store.scan(prefix, cursor, count);
    batches.push(batch);
    cursor = batch.cursor;
    if (between !== undefined) await between(batches.length);
  } while (cursor !== '0');
  return batches;
}

/** The whole table, sorted by field; fails on a field handed back twice (nobody changes the table meanwhile). */
async function dump(store: IndexStore): Promise<Array<[string, string]>> {
  const entries = (await walk(store, '', 100)).flatMap((b) => b.entries);
  const fields = entries.map(([f]) => f);
  expect(new Set(fields).size, 'a field handed back twice by one walk').toBe(fields.length);
  return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const sorted = (table: Map<string, string>): Array<[string, string]> => [...table].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Fills the table with `fields` (each set to `value:<field>`). */
async function fill(store: IndexStore, fields: readonly string[]): Promise<void> {
  expect(await store.commit(change({ set: fields.map((f) => [f, `value:${f}`]) }))).toBe(true);
}

/** Values that probe the encoding: empty, unicode, separators, the glob's and the script's specials. */
const AWKWARD = ['', ' ', '0', '-1', '!', '=', '=x', '!x', '*', 'a*b?[c]\\', 'line\nbreak', 'tab\there', 'ünïcødé ✓ 🚀', '{judge}', 'nil', 'false'];

export function describeIndexStoreContract(name: string, makeStore: MakeIndexStore, options: ContractOptions<[], IndexStore> = {}): void {
  // Two front doors over one table; without shared state (memory), one store stands for both.
  const makePair = (): [IndexStore, IndexStore] => {
    if (options.sharing === undefined) {
      const store = makeStore();
      return [store, store];
    }
    const make = options.sharing();
    return [make(), make()];
  };

  describe(`${name} keeps the index-store contract`, () => {
    describe('reads', () => {
      it('answer each field asked, in order, repeats included, absent fields as undefined', async () => {
        const store = makeStore();
        await fill(store, ['a', 'b']);
        expect(await store.read(['b', 'missing', 'a', 'b'])).toEqual(['value:b', undefined, 'value:a', 'value:b']);
        expect(await store.read([])).toEqual([]);
      });

      it('keep values byte for byte, and tell an empty value apart from an absent field', async () => {
        const store = makeStore();
        const set = AWKWARD.map((v, i): [string, string] => [`${v}#${i}`, v]);
        expect(await store.commit(change({ set }))).toBe(true);
        expect(await store.read(set.map(([f]) => f))).toEqual(AWKWARD);
        expect(await store.read(['#0', 'absent'])).toEqual(['', undefined]);
        expect(await dump(store)).toEqual(sorted(new Map(set)));
      });
    });

    describe('expectations', () => {
      const cases: Array<{ what: string; before: Record<string, string>; expect: IndexChange['expect']; applies: boolean }> = [
        { what: 'a present field holding the value expected', before: { f: '1' }, expect: [['f', '1']], applies: true },
        { what: 'an absent field expected absent', before: {}, expect: [['f', undefined]], applies: true },
        { what: 'an empty value expected empty', before: { f: '' }, expect: [['f', '']], applies: true },
        {
          what: 'several that all hold',
          before: { f: '1', g: 'x' },
          expect: [
            ['f', '1'],
            ['h', undefined],
            ['g', 'x'],
          ],
          applies: true,
        },
        { what: 'a present field holding another value', before: { f: '1' }, expect: [['f', '2']], applies: false },
        { what: 'a present field expected absent', before: { f: '1' }, expect: [['f', undefined]], applies: false },
        { what: 'an absent field expected present', before: {}, expect: [['f', '1']], applies: false },
        { what: 'an absent field expected empty', before: {}, expect: [['f', '']], applies: false },
        { what: 'an empty value expected absent', before: { f: '' }, expect: [['f', undefined]], applies: false },
        {
          what: 'one of several, the last',
          before: { f: '1', g: 'x' },
          expect: [
            ['f', '1'],
            ['h', undefined],
            ['g', 'y'],
          ],
          applies: false,
        },
        {
          what: 'a field expected two ways',
          before: { f: '1' },
          expect: [
            ['f', '1'],
            ['f', undefined],
          ],
          applies: false,
        },
      ];
      for (const c of cases) {
        it(`${c.applies ? 'let a change apply' : 'stop a change, leaving every field untouched,'} when they are ${c.what}`, async () => {
          const store = makeStore();
          const before = Object.entries(c.before);
          if (before.length > 0) expect(await store.commit(change({ set: before }))).toBe(true);
          const table = new Map(before);
          const attempt = change({
            expect: c.expect,
            set: [
              ['f', 'new'],
              ['g', undefined],
              ['s', 'set'],
            ],
            add: [['n', 5]],
          });
          expect(applyChange(table, attempt)).toBe(c.applies);
          expect(await store.commit(attempt)).toBe(c.applies);
          expect(await dump(store)).toEqual(sorted(table));
        });
      }

      it('are checked against the state before the change', async () => {
        const store = makeStore();
        expect(await store.commit(change({ expect: [['f', undefined]], set: [['f', 'mine']] }))).toBe(true);
        expect(await store.commit(change({ expect: [['f', undefined]], set: [['f', 'theirs']] }))).toBe(false);
        expect(await store.read(['f'])).toEqual(['mine']);
      });
    });

    describe('sets', () => {
      it('set and delete fields, the later of two sets of one field winning', async () => {
        const store = makeStore();
        await fill(store, ['keep', 'drop', 'again']);
        const applied = await store.commit(
          change({
            set: [
              ['drop', undefined],
              ['new', 'n'],
              ['twice', 'first'],
              ['twice', 'second'],
              ['again', undefined],
              ['again', 'back'],
              ['gone', 'x'],
              ['gone', undefined],
              ['never', undefined],
            ],
          }),
        );
        expect(applied).toBe(true);
        expect(await dump(store)).toEqual([
          ['again', 'back'],
          ['keep', 'value:keep'],
          ['new', 'n'],
          ['twice', 'second'],
        ]);
      });
    });

    describe('counters', () => {
      const cases: Array<{ what: string; start: string | undefined; deltas: number[]; end: string | undefined }> = [
        { what: 'are created by an add to an absent field', start: undefined, deltas: [3], end: '3' },
        { what: 'move by each delta in turn', start: '3', deltas: [2, -1], end: '4' },
        { what: 'are deleted when they reach 0', start: '3', deltas: [-3], end: undefined },
        { what: 'are deleted, not kept negative, below 0', start: '3', deltas: [-5], end: undefined },
        { what: 'count an absent field as 0, so that a decrement leaves it absent', start: undefined, deltas: [-1], end: undefined },
        { what: 'start again from 0 once deleted within one change', start: '2', deltas: [-5, 3], end: '3' },
        { what: 'clamp at every step, not on the sum', start: undefined, deltas: [-5, 3, -1], end: '2' },
        { what: 'stay exact up to the largest safe integer', start: '9007199254740990', deltas: [1], end: '9007199254740991' },
        { what: 'ignore a zero delta on a present counter', start: '7', deltas: [0], end: '7' },
        { what: 'delete on a zero delta to an absent counter (nothing to keep)', start: undefined, deltas: [0], end: undefined },
      ];
      for (const c of cases) {
        it(c.what, async () => {
          const store = makeStore();
          if (c.start !== undefined) await store.commit(change({ set: [['n', c.start]] }));
          expect(await store.commit(change({ add: c.deltas.map((d) => ['n', d]) }))).toBe(true);
          expect(await store.read(['n'])).toEqual([c.end]);
        });
      }

      it('are added after the sets of the same change', async () => {
        const store = makeStore();
        const attempt = change({
          set: [
            ['n', '5'],
            ['m', undefined],
          ],
          add: [
            ['n', 1],
            ['m', 2],
          ],
        });
        expect(await store.commit(change({ set: [['m', '10']] }))).toBe(true);
        expect(await store.commit(attempt)).toBe(true);
        expect(await store.read(['n', 'm'])).toEqual(['6', '2']);
      });

      it('refuse a delta that is not a safe integer, changing nothing', async () => {
        const store = makeStore();
        for (const delta of [0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
          await expect(store.commit(change({ set: [['s', 'x']], add: [['n', delta]] }))).rejects.toThrow(RangeError);
        }
        expect(await dump(store)).toEqual([]);
      });
    });

    describe('changes', () => {
      it('commit an empty change: true, nothing changed', async () => {
        const store = makeStore();
        await fill(store, ['a']);
        expect(await store.commit(change({}))).toBe(true);
        expect(await dump(store)).toEqual([['a', 'value:a']]);
      });

      it('commit a change of expectations only: true or false by them, nothing changed', async () => {
        const store = makeStore();
        await fill(store, ['a']);
        expect(await store.commit(change({ expect: [['a', 'value:a']] }))).toBe(true);
        expect(await store.commit(change({ expect: [['a', undefined]] }))).toBe(false);
        expect(await dump(store)).toEqual([['a', 'value:a']]);
      });

      it('commit and read a change of 5,000 fields in one step each', async () => {
        const store = makeStore();
        const n = 5_000;
        const fields = Array.from({ length: n }, (_, i) => `g:${i}`);
        const counters = Array.from({ length: n }, (_, i) => `c:${i % 1_250}`);
        const create = change({
          expect: fields.map((f) => [f, undefined]),
          set: fields.map((f) => [f, `v${f}`]),
          add: counters.map((c) => [c, 1]),
        });
        expect(await store.commit(create)).toBe(true);
        expect(await store.read(fields)).toEqual(fields.map((f) => `v${f}`));
        expect(await store.read(counters.slice(0, 1_250))).toEqual(counters.slice(0, 1_250).map(() => '4'));

        // Every expectation but the very last holds: nothing of the change may apply.
        const failing = change({
          expect: fields.map((f, i) => [f, i === n - 1 ? 'other' : `v${f}`]),
          set: fields.map((f) => [f, undefined]),
          add: counters.map((c) => [c, -1]),
        });
        expect(await store.commit(failing)).toBe(false);
        expect(await store.read(fields)).toEqual(fields.map((f) => `v${f}`));

        const remove = change({ ...failing, expect: fields.map((f) => [f, `v${f}`]) });
        expect(await store.commit(remove)).toBe(true);
        expect(await dump(store)).toEqual([]);
      });

      it('leave the table as applyChange leaves a Map, for any sequence of changes', async () => {
        const field = fc.constantFrom('a', 'b', 'c', 'd', '', '*');
        const value = fc.oneof(fc.constantFrom<FieldValue>(undefined, '', '1', '2', 'x'), fc.string({ maxLength: 3 }));
        const anyChange = fc.record({
          expect: fc.array(fc.tuple(field, value), { maxLength: 2 }),
          set: fc.array(fc.tuple(field, value), { maxLength: 3 }),
          add: fc.array(fc.tuple(field, fc.integer({ min: -3, max: 3 })), { maxLength: 3 }),
        });
        await fc.assert(
          fc.asyncProperty(fc.array(anyChange, { maxLength: 12 }), async (changes) => {
            const store = makeStore();
            const table = new Map<string, string>();
            for (const c of changes) expect(await store.commit(c)).toBe(applyChange(table, c));
            expect(await dump(store)).toEqual(sorted(table));
          }),
          { numRuns: 25 },
        );
      });
    });

    describe('scans', () => {
      it('visit each field of a prefix exactly once, in bounded batches, and no other field', async () => {
        const store = makeStore();
        const wanted = Array.from({ length: 5_000 }, (_, i) => `g:${i}`);
        await fill(store, wanted);
        await fill(store, ['g', 'G:1', 'xg:1', ...Array.from({ length: 500 }, (_, i) => `x:${i}`)]);
        const count = 100;
        const batches = await walk(store, 'g:', count);
        const entries = batches.flatMap((b) => b.entries);
        expect(entries.map(([f]) => f).sort()).toEqual([...wanted].sort());
        for (const [f, v] of entries) expect(v).toBe(`value:${f}`);
        // Redis may hand back a few more than `count` (it never splits a hash bucket), never many more.
        expect(Math.max(...batches.map((b) => b.entries.length))).toBeLessThanOrEqual(2 * count);
        expect(batches.length).toBeGreaterThanOrEqual(wanted.length / (2 * count));
      });

      it('match the prefix literally: glob characters in it are no wildcards', async () => {
        const store = makeStore();
        await fill(store, ['a*b', 'a*[c]?', 'aXb', 'a\\b', 'a?', 'ab', '[x]', 'x']);
        const fieldsOf = async (prefix: string): Promise<string[]> =>
          (await walk(store, prefix, 10))
            .flatMap((b) => b.entries)
            .map(([f]) => f)
            .sort();
        expect(await fieldsOf('a*')).toEqual(['a*[c]?', 'a*b']);
        expect(await fieldsOf('a?')).toEqual(['a?']);
        expect(await fieldsOf('a\\')).toEqual(['a\\b']);
        expect(await fieldsOf('[x')).toEqual(['[x]']);
        expect(await fieldsOf('')).toHaveLength(8);
      });

      it('end at once on an empty table or a prefix nothing has', async () => {
        const store = makeStore();
        expect(await walk(store, 'g:', 10)).toEqual([{ entries: [], cursor: '0' }]);
        await fill(store, ['a', 'b']);
        expect((await walk(store, 'g:', 10)).flatMap((b) => b.entries)).toEqual([]);
      });

      it('visit every field present for the whole walk at least once while other fields come and go', async () => {
        const store = makeStore();
        const stay = Array.from({ length: 1_000 }, (_, i) => `g:stay:${i}`);
        const go = Array.from({ length: 1_000 }, (_, i) => `g:go:${i}`);
        await fill(store, [...stay, ...go]);
        // Changes stop after 20 batches: a walk that visits what is added would otherwise never end.
        const batches = await walk(store, 'g:', 50, async (batch) => {
          if (batch > 20) return;
          const gone = go.slice((batch - 1) * 50, batch * 50);
          const added = Array.from({ length: 50 }, (_, i) => `g:new:${batch}:${i}`);
          await store.commit(change({ set: [...gone.map((f): [string, undefined] => [f, undefined]), ...added.map((f): [string, string] => [f, 'n'])] }));
        });
        const seen = new Set(batches.flatMap((b) => b.entries.map(([f]) => f)));
        expect(stay.filter((f) => !seen.has(f))).toEqual([]);
      });
    });

    describe('front doors sharing the table', () => {
      it('see each other’s commits', async () => {
        const [one, two] = makePair();
        expect(await one.commit(change({ set: [['f', 'one']], add: [['n', 2]] }))).toBe(true);
        expect(await two.read(['f', 'n'])).toEqual(['one', '2']);
        expect(await two.commit(change({ expect: [['f', 'one']], set: [['f', 'two']], add: [['n', -2]] }))).toBe(true);
        expect(await one.read(['f', 'n'])).toEqual(['two', undefined]);
      });

      it('racing to claim the same fields, win each claim exactly once, and count exactly', async () => {
        const [one, two] = makePair();
        const claims = Array.from({ length: 100 }, (_, i) => `claim:${i}`);
        const claim = (store: IndexStore, me: string, field: string): Promise<boolean> =>
          store.commit(
            change({
              expect: [[field, undefined]],
              set: [[field, me]],
              add: [
                [`won:${me}`, 1],
                ['claimed', 1],
              ],
            }),
          );
        // Every claim fired by both at once, each several times, interleaved.
        const attempts = claims.flatMap((f) => [claim(one, 'one', f), claim(two, 'two', f), claim(two, 'two', f), claim(one, 'one', f)]);
        const results = await Promise.all(attempts);
        for (let i = 0; i < claims.length; i++) expect(results.slice(4 * i, 4 * i + 4).filter(Boolean)).toHaveLength(1);
        const owners = await one.read(claims);
        const wonByOne = owners.filter((o) => o === 'one').length;
        expect(owners.every((o) => o === 'one' || o === 'two')).toBe(true);
        const [byOne, byTwo, claimed] = await two.read(['won:one', 'won:two', 'claimed']);
        expect([Number(byOne ?? '0'), Number(byTwo ?? '0'), claimed]).toEqual([wonByOne, claims.length - wonByOne, String(claims.length)]);
      });

      it('lose no increment made by read, compare and retry through both at once', async () => {
        const [one, two] = makePair();
        const increment = async (store: IndexStore): Promise<void> => {
          for (;;) {
            const [current] = await store.read(['n']);
            const next = String(Number(current ?? '0') + 1);
            if (await store.commit(change({ expect: [['n', current]], set: [['n', next]] }))) return;
          }
        };
        await Promise.all(Array.from({ length: 40 }, (_, i) => increment(i % 2 === 0 ? one : two)));
        expect(await one.read(['n'])).toEqual(['40']);
      });

      it('count adds made through both at once exactly', async () => {
        const [one, two] = makePair();
        await Promise.all(
          Array.from({ length: 200 }, (_, i) =>
            (i % 2 === 0 ? one : two).commit(
              change({
                add: [
                  ['n', 1],
                  ['m', 2],
                ],
              }),
            ),
          ),
        );
        expect(await two.read(['n', 'm'])).toEqual(['200', '400']);
      });
    });
  });
}
