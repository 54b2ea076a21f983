/**
 * The ring-change state machine (src/core/ring-change.ts): every rule of docs/resizing.md that a
 * front door or the reconciler applies is a row here, plus properties over arbitrary states.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ShardConfig } from '../../src/config/schema.js';
import {
  beatOf,
  closeRecord,
  decideBegin,
  decideFollow,
  initialMemory,
  routingAfterBegin,
  settleRecord,
  undrainedRemovals,
  viewChange,
  type Beat,
  type ChangeRecord,
  type FollowInput,
  type FollowMemory,
  type FollowStep,
  type Published,
} from '../../src/core/ring-change.js';

const shard = (name: string, draining = false): ShardConfig => ({ name, replicas: [`http://127.0.0.1:1/${name}`], weight: 1, draining });
const A = [shard('a'), shard('b')];
const B = [shard('a'), shard('b'), shard('c')];
const C = [shard('a'), shard('c')];
const NOW = 1_000_000;
const HEARTBEAT = 1_000;
const ROLLBACK = 30_000;

const record = (over: Partial<ChangeRecord> = {}): ChangeRecord => ({ id: 'x1', from: 'A', to: 'B', fromShards: A, toShards: B, settled: false, ...over });
const published = (over: Partial<Published> = {}): Published => ({ version: 'A', shards: A, ...over });
const memory = (over: Partial<FollowMemory> = {}): FollowMemory => ({ ...initialMemory(NOW - 500), ...over });
const beat = (over: Partial<Beat> = {}): Beat => ({ version: 'B', phase: 'dual', dualReady: true, until: NOW + 3_000, ...over });

/** A front door serving ring `mine` (shards `shards`), as each row changes it. */
function follow(over: Partial<FollowInput>): FollowStep {
  return decideFollow({
    now: NOW,
    mine: 'B',
    shards: B,
    mode: 'steady',
    record: undefined,
    published: undefined,
    publishedServed: false,
    memory: memory(),
    heartbeatMs: HEARTBEAT,
    rollbackAfterMs: ROLLBACK,
    ...over,
  });
}

interface FollowRow {
  rule: string;
  input: Partial<FollowInput>;
  expect: {
    routing?: FollowStep['routing'];
    writes?: FollowStep['writes'];
    again?: boolean;
    warning?: RegExp;
    memory?: Partial<FollowMemory>;
  };
}

const steady = { mode: { kind: 'steady' }, fence: undefined } as const;

const followRows: FollowRow[] = [
  {
    rule: 'the first front door publishes its ring when none is published',
    input: { mine: 'A', shards: A },
    expect: { writes: [{ kind: 'publish', published: { version: 'A', shards: A } }], routing: steady, again: false },
  },
  {
    rule: 'on the published ring with no change recorded: steady, nothing refused',
    input: { mine: 'A', shards: A, published: published() },
    expect: { routing: steady, writes: [] },
  },
  {
    rule: 'dual with no change recorded any more (closed): back to steady',
    input: { mode: 'dual', published: published({ version: 'B', shards: B }) },
    expect: { routing: steady },
  },
  {
    rule: 'started with another ring than the published one (a restart with a new file): it starts the change itself, from the published ring',
    input: { published: published({ closed: 'x0' }) },
    expect: { writes: [{ kind: 'create', fromShards: A, toShards: B, base: 'x0' }], again: true, routing: undefined },
  },
  {
    rule: 'on the ring before the last change while another front door serves the ring in force: fenced by the published ring (a stale file)',
    input: { published: published({ previous: 'B' }), publishedServed: true },
    expect: { routing: { mode: { kind: 'steady' }, fence: [A] }, writes: [], warning: /older than the ring in force/ },
  },
  {
    rule: 'on the ring before the last change, the published ring just seen for the first time: fenced (its servers may not have beaten yet)',
    input: { published: published({ previous: 'B' }), memory: memory({ publishedSeen: undefined, publishedServedAt: NOW - 10 * ROLLBACK }) },
    expect: {
      routing: { mode: { kind: 'steady' }, fence: [A] },
      memory: { publishedSeen: 'A', publishedServedAt: NOW },
      warning: /older than the ring in force/,
    },
  },
  {
    rule: 'on the ring before the last change, and no front door served the ring in force for the rollback time: a rollback, the change back starts',
    input: {
      published: published({ previous: 'B', closed: 'x1' }),
      memory: memory({ publishedSeen: 'A', publishedServedAt: NOW - ROLLBACK - 1, lastFollowed: NOW - 500 }),
    },
    expect: { writes: [{ kind: 'create', fromShards: A, toShards: B, base: 'x1' }], again: true },
  },
  {
    rule: 'heartbeats missing because this front door was away prove nothing: no rollback after a gap in its own steps',
    input: {
      published: published({ previous: 'B' }),
      memory: memory({ publishedSeen: 'A', publishedServedAt: NOW - ROLLBACK - 1, lastFollowed: NOW - 4 * HEARTBEAT }),
    },
    expect: { routing: { mode: { kind: 'steady' }, fence: [A] }, memory: { publishedServedAt: NOW }, warning: /older than the ring in force/ },
  },
  {
    rule: 'a file that removes an undrained shard of the published ring: fenced instead of starting a change',
    input: { mine: 'C', shards: C, published: published({ version: 'B', shards: B }) },
    expect: { routing: { mode: { kind: 'steady' }, fence: [B] }, writes: [], warning: /removes shard\(s\) b without draining/ },
  },
  {
    rule: 'a file that drops a shard the published ring drains is a change like any other',
    input: { mine: 'A', shards: A, published: published({ version: 'B', shards: [shard('a'), shard('b'), shard('c', true)] }) },
    expect: { writes: [{ kind: 'create', fromShards: [shard('a'), shard('b'), shard('c', true)], toShards: A, base: undefined }], again: true },
  },
  {
    rule: 'the change to its ring under way, not settled: writes both owners, old first, from the ring the change comes from',
    input: { record: record(), published: published() },
    expect: { routing: { mode: { kind: 'dual', from: A }, fence: undefined }, memory: { known: record(), fence: undefined } },
  },
  {
    rule: 'the change to its ring has settled: writes the new owners alone',
    input: { mode: 'dual', record: record({ settled: true }), published: published() },
    expect: { routing: steady },
  },
  {
    rule: 'the change to its ring under way, but its file lacks an undrained shard groups move from: fenced by the old ring, steady (it writes no moving group)',
    input: { mine: 'C', shards: C, mode: 'dual', record: record({ to: 'C', toShards: C }), published: published() },
    expect: {
      routing: { mode: { kind: 'steady' }, fence: [A] },
      memory: { fence: { mine: 'C', by: ['A'], since: NOW } },
      warning: /from which groups are still moving/,
    },
  },
  {
    rule: 'fenced in a change already: the fence keeps the time it began',
    input: {
      mine: 'C',
      shards: C,
      record: record({ to: 'C', toShards: C }),
      published: published(),
      memory: memory({ fence: { mine: 'C', by: ['A'], since: NOW - 5_000 } }),
    },
    expect: { memory: { fence: { mine: 'C', by: ['A'], since: NOW - 5_000 } }, warning: /from which groups are still moving/ },
  },
  {
    rule: 'the same fence set while it served another ring: it begins now',
    input: {
      mine: 'C',
      shards: C,
      record: record({ to: 'C', toShards: C }),
      published: published(),
      memory: memory({ fence: { mine: 'B', by: ['A'], since: NOW - 5_000 } }),
    },
    expect: { memory: { fence: { mine: 'C', by: ['A'], since: NOW } }, warning: /from which groups are still moving/ },
  },
  {
    rule: 'fenced in a change that has settled: the fence lifts (the old owners no longer count)',
    input: {
      mine: 'C',
      shards: C,
      record: record({ to: 'C', toShards: C, settled: true }),
      published: published(),
      memory: memory({ fence: { mine: 'C', by: ['A'], since: NOW - 5_000 } }),
    },
    expect: { routing: steady, memory: { fence: undefined } },
  },
  {
    rule: 'still on the old ring when the change has settled: fenced by the new ring, its mode kept',
    input: { mine: 'A', shards: A, record: record({ settled: true }), published: published() },
    expect: {
      routing: { mode: undefined, fence: [B] },
      memory: { fence: { mine: 'A', by: ['B'], since: NOW } },
      warning: /older than the settled ring change to B/,
    },
  },
  {
    rule: 'on neither side of the change under way: fenced by both rings',
    input: { mine: 'C', shards: C, record: record(), published: published() },
    expect: {
      routing: { mode: undefined, fence: [A, B] },
      memory: { fence: { mine: 'C', by: ['A', 'B'], since: NOW } },
      warning: /neither side of the change under way/,
    },
  },
  {
    rule: 'on the old ring of a change not settled: the authority, written as before, nothing refused',
    input: { mine: 'A', shards: A, record: record(), published: published() },
    expect: { routing: { mode: undefined, fence: undefined } },
  },
  {
    rule: 'the record was lost before the change completed (Redis restarted without persistence): a front door on the new ring puts it back as it was',
    input: { record: undefined, published: published(), memory: memory({ known: record({ settled: true }) }) },
    expect: { writes: [{ kind: 'record', record: record({ settled: true }), onlyIfAbsent: true }], again: true, warning: /was missing from Redis: put back/ },
  },
  {
    rule: 'the record and the published ring were both lost: it is put back all the same (a re-published ring without `closed` proves nothing)',
    input: { record: undefined, published: published({ version: 'B', shards: B }), memory: memory({ known: record() }) },
    expect: { writes: [{ kind: 'record', record: record(), onlyIfAbsent: true }], again: true, warning: /was missing from Redis/ },
  },
  {
    rule: 'the record is gone because the change closed: nothing is put back, the known record is forgotten',
    input: { record: undefined, published: published({ version: 'B', shards: B, closed: 'x1' }), memory: memory({ known: record() }) },
    expect: { writes: [], routing: steady, memory: { known: undefined } },
  },
  {
    rule: 'the record is gone and it is behind that change: it keeps what it does (and its fence)',
    input: { mine: 'A', shards: A, record: undefined, published: published(), memory: memory({ known: record() }) },
    expect: { writes: [], routing: undefined, again: false },
  },
  {
    rule: 'a settled change put back unsettled by a front door that had not seen it settle: settling is for good',
    input: { record: record(), published: published(), memory: memory({ known: record({ settled: true }) }) },
    expect: { writes: [{ kind: 'record', record: record({ settled: true }), onlyIfAbsent: false }], again: true },
  },
  {
    rule: 'the same change recorded afresh (another id, same rings and base) after it settled: put back settled',
    input: { record: record({ id: 'x2' }), published: published(), memory: memory({ known: record({ settled: true }) }) },
    expect: { writes: [{ kind: 'record', record: record({ settled: true }), onlyIfAbsent: false }], again: true },
  },
  {
    rule: 'another change than the settled one known: followed, not overwritten',
    input: { record: record({ id: 'x2', base: 'x1' }), published: published(), memory: memory({ known: record({ settled: true }) }) },
    expect: { writes: [], routing: { mode: { kind: 'dual', from: A }, fence: undefined } },
  },
];

describe('decideFollow: one front door following the change', () => {
  it.each(followRows)('$rule', ({ input, expect: want }) => {
    const step = follow(input);
    if ('routing' in want) expect(step.routing).toEqual(want.routing);
    if (want.writes !== undefined) expect(step.writes).toEqual(want.writes);
    if (want.again !== undefined) expect(step.again).toBe(want.again);
    if (want.warning !== undefined) expect(step.warning).toMatch(want.warning);
    else expect(step.warning).toBeUndefined();
    if (want.memory !== undefined) expect(step.memory).toMatchObject(want.memory);
  });
});

describe('the change as the reconciler sees it', () => {
  it.each([
    { rule: 'no record: no change', rec: undefined, beats: [], phase: 'none', everyoneDual: false },
    { rule: 'recorded, not settled: copy', rec: record(), beats: [beat()], phase: 'copy', everyoneDual: true },
    {
      rule: 'a front door not dual long enough holds everyone-dual back',
      rec: record(),
      beats: [beat(), beat({ dualReady: false })],
      phase: 'copy',
      everyoneDual: false,
    },
    { rule: 'a front door dual on another ring holds everyone-dual back', rec: record(), beats: [beat({ version: 'C' })], phase: 'copy', everyoneDual: false },
    {
      rule: 'a front door steady on the old ring holds everyone-dual back',
      rec: record(),
      beats: [beat({ version: 'A', phase: 'steady', dualReady: false })],
      phase: 'copy',
      everyoneDual: false,
    },
    {
      rule: 'settled, some front door still dual: hold',
      rec: record({ settled: true }),
      beats: [beat(), beat({ phase: 'steady' })],
      phase: 'hold',
      everyoneDual: false,
    },
    {
      rule: 'settled, every front door steady on the new ring: delete',
      rec: record({ settled: true }),
      beats: [beat({ phase: 'steady' })],
      phase: 'delete',
      everyoneDual: false,
    },
    {
      rule: 'settled, a front door steady on the old ring: hold',
      rec: record({ settled: true }),
      beats: [beat({ phase: 'steady' }), beat({ version: 'A', phase: 'steady' })],
      phase: 'hold',
      everyoneDual: false,
    },
    {
      rule: 'settled, a front door on another ring fenced by the new one (restarted with the next file): it writes no stray, delete',
      rec: record({ settled: true }),
      beats: [beat({ phase: 'steady' }), beat({ version: 'C', phase: 'steady', dualReady: false, fencedBy: ['B'] })],
      phase: 'delete',
      everyoneDual: false,
    },
    {
      rule: 'settled, a front door fenced by another ring than the new one: hold',
      rec: record({ settled: true }),
      beats: [beat({ phase: 'steady' }), beat({ version: 'A', phase: 'steady', dualReady: false, fencedBy: ['C'] })],
      phase: 'hold',
      everyoneDual: false,
    },
    {
      rule: 'not settled, a front door on neither ring fenced by both: it writes no moving group, everyone dual',
      rec: record(),
      beats: [beat(), beat({ version: 'C', phase: 'steady', dualReady: false, fencedBy: ['A', 'B'] })],
      phase: 'copy',
      everyoneDual: true,
    },
    {
      rule: 'not settled, a front door on the new ring fenced by the old one (its file lacks a shard groups move from): everyone dual',
      rec: record(),
      beats: [beat(), beat({ phase: 'steady', dualReady: false, fencedBy: ['A'] })],
      phase: 'copy',
      everyoneDual: true,
    },
    {
      rule: 'not settled, a front door on the old ring fenced by the new one: every moving group is placed differently, so it writes none; everyone dual',
      rec: record(),
      beats: [beat(), beat({ version: 'A', phase: 'steady', dualReady: false, fencedBy: ['B'] })],
      phase: 'copy',
      everyoneDual: true,
    },
    {
      rule: 'not settled, a front door fenced by the new ring only, on a third: it may write moving groups to the new owner alone, held back',
      rec: record(),
      beats: [beat(), beat({ version: 'C', phase: 'steady', dualReady: false, fencedBy: ['B'] })],
      phase: 'copy',
      everyoneDual: false,
    },
  ] as const)('$rule', ({ rec, beats, phase, everyoneDual }) => {
    const view = viewChange(rec, beats);
    expect(view.phase).toBe(phase);
    expect(view.everyoneDual).toBe(everyoneDual);
    expect(view.id).toBe(rec?.id);
  });

  it('settles only the change named, once, and only while every live front door writes both owners', () => {
    expect(settleRecord(record(), [beat()], 'other')).toBeUndefined();
    expect(settleRecord(record({ settled: true }), [beat()], 'x1')).toBeUndefined();
    expect(settleRecord(record(), [beat(), beat({ dualReady: false })], 'x1')).toBeUndefined();
    expect(settleRecord(undefined, [beat()], 'x1')).toBeUndefined();
    expect(settleRecord(record(), [beat()], 'x1')).toEqual(record({ settled: true }));
  });

  it('closes only a settled change, publishing its ring with the one before it and its id', () => {
    expect(closeRecord(record(), 'x1')).toBeUndefined();
    expect(closeRecord(record({ settled: true }), 'other')).toBeUndefined();
    expect(closeRecord(record({ settled: true }), 'x1')).toEqual({ version: 'B', shards: B, previous: 'A', closed: 'x1' });
  });
});

describe('decideBegin: a reload to a new ring', () => {
  it.each([
    {
      rule: 'nothing recorded: the change is recorded from the published ring, whatever this front door served',
      k: { record: undefined, published: published({ closed: 'x0' }), to: 'B', previous: C, next: B },
      want: { create: { fromShards: A, toShards: B, base: 'x0' } },
    },
    {
      rule: 'nothing recorded or published: from the ring it served',
      k: { record: undefined, published: undefined, to: 'B', previous: A, next: B },
      want: { create: { fromShards: A, toShards: B, base: undefined } },
    },
    {
      rule: 'the ring already in force (it was behind): caught up, nothing moves',
      k: { record: undefined, published: published({ version: 'B' }), to: 'B', previous: A, next: B },
      want: { answer: { catchUp: true } },
    },
    {
      rule: 'another change under way: refused until it completes',
      k: { record: record({ to: 'C' }), published: published(), to: 'B', previous: A, next: B },
      want: { answer: { refused: expect.stringContaining('to C is still being applied') }, known: record({ to: 'C' }) },
    },
    {
      rule: 'joining the change under way to the same ring: from its authority',
      k: { record: record(), published: published(), to: 'B', previous: C, next: B },
      want: { answer: { from: A }, known: record() },
    },
    {
      rule: 'the change to the same ring has settled: caught up',
      k: { record: record({ settled: true }), published: published(), to: 'B', previous: A, next: B },
      want: { answer: { catchUp: true }, known: record({ settled: true }) },
    },
  ])('$rule', ({ k, want }) => {
    expect(decideBegin(k)).toEqual(want);
  });

  it('a reload answer is put in force with the ring: from the authority, or fenced like a step would', () => {
    const names = new Set(['a', 'b', 'c']);
    expect(routingAfterBegin({ refused: 'x' }, names)).toBeUndefined();
    expect(routingAfterBegin({ catchUp: true }, names)).toEqual(steady);
    expect(routingAfterBegin({ from: A }, names)).toEqual({ mode: { kind: 'dual', from: A }, fence: undefined });
    // A new file lacking an undrained shard groups move from: fenced, as decideFollow would.
    expect(routingAfterBegin({ from: A }, new Set(['a', 'c']))).toEqual({ mode: { kind: 'steady' }, fence: [A] });
  });
});

describe('heartbeats', () => {
  const base = { version: 'B', now: NOW, lagMs: 2_000, until: NOW + 3_000, memory: memory() };
  it.each([
    { rule: 'steady', k: { ...base, mode: 'steady', dualSince: undefined }, want: { phase: 'steady', dualReady: false } },
    {
      rule: 'dual for less than the lag: not ready (pushes routed the old way may still land)',
      k: { ...base, mode: 'dual', dualSince: NOW - 2_000 },
      want: { phase: 'dual', dualReady: false },
    },
    { rule: 'dual for longer than the lag: ready', k: { ...base, mode: 'dual', dualSince: NOW - 2_001 }, want: { phase: 'dual', dualReady: true } },
    {
      rule: 'fenced for longer than the lag: the fence is told',
      k: { ...base, mode: 'steady', dualSince: undefined, memory: memory({ fence: { mine: 'B', by: ['A'], since: NOW - 2_001 } }) },
      want: { phase: 'steady', dualReady: false, fencedBy: ['A'] },
    },
    {
      rule: 'fenced for less than the lag: not told (pushes routed before it may still land)',
      k: { ...base, mode: 'steady', dualSince: undefined, memory: memory({ fence: { mine: 'B', by: ['A'], since: NOW - 10 } }) },
      want: { phase: 'steady', dualReady: false },
    },
    {
      rule: 'a fence set for another ring than it serves now (reloaded since): not told',
      k: { ...base, mode: 'steady', dualSince: undefined, memory: memory({ fence: { mine: 'A', by: ['B'], since: NOW - 5_000 } }) },
      want: { phase: 'steady', dualReady: false },
    },
  ] as const)('$rule', ({ k, want }) => {
    expect(beatOf(k)).toEqual({ version: 'B', until: NOW + 3_000, ...want });
  });

  it('undrained removals name owning shards the configuration lacks, never draining ones', () => {
    expect(undrainedRemovals([shard('a'), shard('b'), shard('c', true)], new Set(['a']))).toEqual(['b']);
    expect(undrainedRemovals(A, new Set(['a', 'b']))).toEqual([]);
  });
});

describe('properties over arbitrary states', () => {
  const rings = { A, B, C } as const;
  const version = fc.constantFrom('A', 'B', 'C');
  const arbRecord = fc
    .record({ id: fc.constantFrom('x1', 'x2'), from: version, to: version, settled: fc.boolean(), base: fc.constantFrom('x0', 'x1') })
    .map((r): ChangeRecord => ({ ...r, fromShards: rings[r.from], toShards: rings[r.to] }));
  const arbPublished = fc
    .record({ version, previous: version, closed: fc.constantFrom('x0', 'x1') })
    .map((p): Published => ({ ...p, shards: rings[p.version] }));
  const arbInput = fc.record({
    mine: version,
    mode: fc.constantFrom('steady' as const, 'dual' as const),
    record: fc.option(arbRecord, { nil: undefined }),
    published: fc.option(arbPublished, { nil: undefined }),
    publishedServed: fc.boolean(),
    known: fc.option(arbRecord, { nil: undefined }),
    fenced: fc.option(fc.record({ mine: version, by: fc.subarray(['A', 'B', 'C']) }), { nil: undefined }),
    since: fc.integer({ min: 0, max: 2 * ROLLBACK }),
  });

  it("writes both owners only while a change to its own ring is under way, from that change's authority, and never while fenced", () => {
    fc.assert(
      fc.property(arbInput, (i) => {
        const fence = i.fenced === undefined ? undefined : { ...i.fenced, since: NOW - i.since };
        const step = follow({ ...i, shards: rings[i.mine], memory: memory({ known: i.known, fence, publishedServedAt: NOW - i.since }) });
        const mode = step.routing?.mode;
        if (mode?.kind === 'dual') {
          expect(i.record).toMatchObject({ to: i.mine, settled: false });
          expect(mode.from).toEqual(i.record!.fromShards);
          expect(step.routing!.fence).toBeUndefined();
        }
        // A front door only ever records a change to its own ring.
        for (const w of step.writes) if (w.kind === 'create') expect(w.toShards).toEqual(rings[i.mine]);
        // Every write asks for another look, so that what it wrote is read back before acting on it.
        if (step.writes.some((w) => w.kind !== 'publish')) expect(step.again).toBe(true);
      }),
    );
  });

  it('remembers the fence it puts in force, for the ring it serves, since it began', () => {
    const versionOf = (shards: readonly ShardConfig[]): string => Object.entries(rings).find(([, r]) => r === shards)![0];
    fc.assert(
      fc.property(arbInput, (i) => {
        const fence = i.fenced === undefined ? undefined : { ...i.fenced, since: NOW - i.since };
        const step = follow({ ...i, shards: rings[i.mine], memory: memory({ known: i.known, fence }) });
        if (step.routing === undefined) return;
        const by = step.routing.fence?.map(versionOf);
        if (by === undefined) expect(step.memory.fence).toBeUndefined();
        else {
          expect(step.memory.fence).toMatchObject({ mine: i.mine, by });
          const kept = fence !== undefined && fence.mine === i.mine && fence.by.join() === by.join();
          expect(step.memory.fence!.since).toBe(kept ? fence.since : NOW);
        }
      }),
    );
  });
});
