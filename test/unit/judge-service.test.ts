/**
 * The judge service's own logic — read, judge, commit, and again after a lost commit; busy;
 * failure records, undo, index building — over the memory index store. The rules here are a toy
 * of core/judge.ts's shape (one type per metric name, claimed by the first group that pushes
 * it), so that every path of the service can be driven on purpose; the real rules have their
 * own tests (test/unit/judge.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { applyChange, type FieldValue, type IndexChange } from '../../src/core/index-table.js';
import type { GroupWrite, StoredGroup, Verdict } from '../../src/core/judge.js';
import type { MetricType } from '../../src/core/push-body.js';
import { createMemoryIndexStore, IndexStoreError, JUDGE_STORE_UNAVAILABLE, type IndexStore } from '../../src/judge/index-store.js';
import { BUILT_FIELD, createJudge, MAX_ATTEMPTS, MAX_REPORTED_CONFLICTS, type Accepted, type JudgeRules, type Refused } from '../../src/judge/judge-service.js';

const LIMITS = { maxSeries: 1_000 };

/** Fields of the toy: g:<group> (its names, comma-joined), t:<name> (the name's type), f:<group> (a failure), `writes` (a counter). */
const toyFieldsOf = (write: GroupWrite): string[] => [`g:${write.group}`, ...write.families.map((f) => `t:${f.name}`)];

function toyJudge(write: GroupWrite, read: (field: string) => FieldValue): Verdict {
  const record = `g:${write.group}`;
  const old = read(record);
  const names = write.families.map((f) => f.name).sort();
  const expect: Array<[string, FieldValue]> = [[record, old]];
  const claims: Array<[string, string]> = [];
  for (const family of write.families) {
    const held = read(`t:${family.name}`);
    if (held !== undefined && held !== family.type) {
      const failure: IndexChange | undefined =
        write.group === 'poison' ? undefined : { expect: [[record, old]], set: [[`f:${write.group}`, 'failed']], add: [] };
      return { ok: false, kind: 'inconsistent', message: `${family.name} is a ${held}, not a ${family.type}`, failure };
    }
    expect.push([`t:${family.name}`, held]);
    if (held === undefined) claims.push([`t:${family.name}`, family.type]);
  }
  if (old === names.join(',') && claims.length === 0) return { ok: true, change: { expect, set: [], add: [] }, settle: NOTHING, undo: NOTHING };
  const change: IndexChange = { expect, set: [[record, names.join(',')], ...claims], add: [['writes', 1]] };
  const undo: IndexChange = {
    expect: [[record, names.join(',')]],
    set: [[record, old], ...claims.map(([f]): [string, undefined] => [f, undefined])],
    add: [['writes', -1]],
  };
  return { ok: true, change, settle: NOTHING, undo };
}

const NOTHING: IndexChange = { expect: [], set: [], add: [] };

const toyRules: JudgeRules = {
  fieldsOf: toyFieldsOf,
  judgeWrite: (write, read) => toyJudge(write, read),
  fieldsOfStored: (stored) => toyFieldsOf(writeOf(stored)),
  restoreGroup(stored, read) {
    const verdict = toyJudge(writeOf(stored), read);
    return verdict.ok ? { ok: true, change: verdict.change } : { ok: false, message: verdict.kind === 'inconsistent' ? verdict.message : verdict.kind };
  },
};

const write = (group: string, families: Record<string, MetricType>): GroupWrite => ({
  group,
  labels: [['job', group]],
  method: 'PUT',
  families: Object.entries(families).map(([name, type]) => ({ name, help: '', type, metrics: [{ labels: [], values: 0, hasTimestamp: false }] })),
});
const writeOf = (stored: StoredGroup): GroupWrite => ({ group: stored.group, labels: stored.labels, method: 'PUT', families: stored.families });
const stored = (group: string, families: Record<string, MetricType>): StoredGroup => {
  const { labels, families: f } = write(group, families);
  return { group, labels, families: f };
};

/** Everything the store holds. */
/** The store's fields, but for the mark of a finished build. */
async function tableOf(store: IndexStore): Promise<Record<string, string>> {
  const table: Record<string, string> = {};
  let cursor = '0';
  do {
    const batch = await store.scan('', cursor, 100);
    for (const [f, v] of batch.entries) if (f !== BUILT_FIELD) table[f] = v;
    cursor = batch.cursor;
  } while (cursor !== '0');
  return table;
}

/**
 * The memory store with another front door at work: `before` runs ahead of each commit (it may
 * commit through the inner store, as another front door would, so that the commit loses), and
 * every commit is counted.
 */
function contested(inner: IndexStore, before: (commits: number) => Promise<void>): IndexStore & { commits: number } {
  const store = {
    commits: 0,
    read: (fields: readonly string[]) => inner.read(fields),
    async commit(change: IndexChange) {
      await before(++store.commits);
      return inner.commit(change);
    },
    scan: (prefix: string, cursor: string, count: number) => inner.scan(prefix, cursor, count),
    close: () => inner.close(),
  };
  return store;
}

/** A memory store holding the mark of a finished build, as every judged index does. */
function builtStore(): IndexStore {
  const store = createMemoryIndexStore();
  // Applied at once: the memory store commits synchronously inside its promise.
  void store.commit({ expect: [], set: [[BUILT_FIELD, 'test']], add: [] });
  return store;
}

const accepted = (verdict: unknown): Accepted => {
  expect(verdict).toMatchObject({ ok: true });
  return verdict as Accepted;
};
const refused = (verdict: unknown): Refused => {
  expect(verdict).toMatchObject({ ok: false, kind: 'inconsistent' });
  return verdict as Refused;
};

describe('judging a write', () => {
  it('answers unbuilt, recording nothing, while the index lacks the mark of a finished build', async () => {
    const judge = createJudge({ store: createMemoryIndexStore(), limits: LIMITS, rules: toyRules });
    expect(await judge.judge(write('a', { foo: 'GAUGE' }))).toEqual({ ok: false, kind: 'unbuilt' });
  });

  it('records an accepted write in the index before answering', async () => {
    const store = builtStore();
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    accepted(await judge.judge(write('a', { up: 'GAUGE', runs: 'COUNTER' })));
    expect(await tableOf(store)).toEqual({ 'g:a': 'runs,up', 't:up': 'GAUGE', 't:runs': 'COUNTER', writes: '1' });
  });

  it('records nothing of a refused write', async () => {
    const store = builtStore();
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    accepted(await judge.judge(write('a', { up: 'GAUGE' })));
    const before = await tableOf(store);
    expect(refused(await judge.judge(write('b', { up: 'COUNTER' }))).message).toBe('up is a GAUGE, not a COUNTER');
    expect(await tableOf(store)).toEqual(before);
  });

  it('does not commit a write that changes nothing', async () => {
    const store = contested(builtStore(), async () => undefined);
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    accepted(await judge.judge(write('a', { up: 'GAUGE' })));
    accepted(await judge.judge(write('a', { up: 'GAUGE' })));
    expect(store.commits).toBe(1);
  });

  it('judges again against what another front door recorded when it loses its commit', async () => {
    const inner = builtStore();
    const store = contested(inner, async (commits) => {
      if (commits === 1) await inner.commit({ expect: [], set: [['t:up', 'COUNTER']], add: [] });
    });
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    expect(refused(await judge.judge(write('a', { up: 'GAUGE' }))).message).toBe('up is a COUNTER, not a GAUGE');
    expect(await tableOf(inner)).toEqual({ 't:up': 'COUNTER' });
  });

  it(`wins on its last attempt after losing ${MAX_ATTEMPTS - 1} commits in a row`, async () => {
    const inner = builtStore();
    const store = contested(inner, async (commits) => {
      if (commits < MAX_ATTEMPTS) await inner.commit({ expect: [], set: [['g:a', `other ${commits}`]], add: [] });
    });
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    accepted(await judge.judge(write('a', { up: 'GAUGE' })));
    expect(await inner.read(['g:a', 'writes'])).toEqual(['up', '1']);
  });

  it(`answers busy, recording nothing, once it lost ${MAX_ATTEMPTS} commits in a row`, async () => {
    const inner = builtStore();
    const store = contested(inner, async (commits) => {
      await inner.commit({ expect: [], set: [['g:a', `other ${commits}`]], add: [] });
    });
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    expect(await judge.judge(write('a', { up: 'GAUGE' }))).toEqual({ ok: false, kind: 'busy', attempts: MAX_ATTEMPTS });
    expect(store.commits).toBe(MAX_ATTEMPTS);
    expect(await inner.read(['g:a', 't:up', 'writes'])).toEqual([`other ${MAX_ATTEMPTS}`, undefined, undefined]);
  });

  it('accepts exactly one of two conflicting writes judged at once through two judges on one table', async () => {
    const store = builtStore();
    const [one, two] = [createJudge({ store, limits: LIMITS, rules: toyRules }), createJudge({ store, limits: LIMITS, rules: toyRules })];
    const verdicts = await Promise.all([one.judge(write('a', { up: 'GAUGE' })), two.judge(write('b', { up: 'COUNTER' }))]);
    expect(verdicts.filter((v) => v.ok)).toHaveLength(1);
    expect(verdicts.filter((v) => !v.ok && v.kind === 'inconsistent')).toHaveLength(1);
    expect(await store.read(['writes'])).toEqual(['1']);
  });

  it('rejects with the store’s error when the store cannot be reached: judging fails closed', async () => {
    const down: IndexStore = {
      read: () => Promise.reject(new IndexStoreError('down')),
      commit: () => Promise.reject(new IndexStoreError('down')),
      scan: () => Promise.reject(new IndexStoreError('down')),
      close: async () => undefined,
    };
    const judge = createJudge({ store: down, limits: LIMITS, rules: toyRules });
    await expect(judge.judge(write('a', { up: 'GAUGE' }))).rejects.toMatchObject({ code: JUDGE_STORE_UNAVAILABLE });
  });

  it('rejects when the rules read a field they did not name', async () => {
    const judge = createJudge({ store: builtStore(), limits: LIMITS, rules: { ...toyRules, fieldsOf: () => [] } });
    await expect(judge.judge(write('a', { up: 'GAUGE' }))).rejects.toThrow(/did not name/);
  });
});

describe('recording a refusal’s failure', () => {
  const setUp = async (): Promise<{ store: IndexStore; judge: ReturnType<typeof createJudge> }> => {
    const store = builtStore();
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    accepted(await judge.judge(write('a', { up: 'GAUGE' })));
    return { store, judge };
  };

  it('records it', async () => {
    const { store, judge } = await setUp();
    const w = write('b', { up: 'COUNTER' });
    expect(await judge.recordFailure(w, refused(await judge.judge(w)))).toBe('recorded');
    expect(await store.read(['f:b'])).toEqual(['failed']);
  });

  it('stores nothing of a poison push', async () => {
    const { store, judge } = await setUp();
    const w = write('poison', { up: 'COUNTER' });
    const before = await tableOf(store);
    expect(await judge.recordFailure(w, refused(await judge.judge(w)))).toBe('poison');
    expect(await tableOf(store)).toEqual(before);
  });

  it('records the failure of the write judged again when the index moved on and it is still refused', async () => {
    const { store, judge } = await setUp();
    const w = write('b', { up: 'COUNTER' });
    const refusal = refused(await judge.judge(w));
    // Group b is created meanwhile: the refusal's failure expected it absent.
    await store.commit({ expect: [], set: [['g:b', 'other']], add: [] });
    expect(await judge.recordFailure(w, refusal)).toBe('recorded');
    expect(await store.read(['f:b', 'g:b'])).toEqual(['failed', 'other']);
  });

  it('records nothing when, judged again, the write is no longer refused', async () => {
    const { store, judge } = await setUp();
    const w = write('b', { up: 'COUNTER' });
    const refusal = refused(await judge.judge(w));
    await store.commit({
      expect: [],
      set: [
        ['g:b', 'other'],
        ['t:up', undefined],
      ],
      add: [],
    });
    expect(await judge.recordFailure(w, refusal)).toBe('stale');
    expect(await store.read(['f:b'])).toEqual([undefined]);
  });
});

describe('undoing an accepted write no backend stored', () => {
  it('leaves the index as it was before the write', async () => {
    const store = builtStore();
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    accepted(await judge.judge(write('a', { up: 'GAUGE' })));
    const before = await tableOf(store);
    const verdict = accepted(await judge.judge(write('a', { up: 'GAUGE', runs: 'COUNTER' })));
    expect(await judge.undo(verdict)).toBe(true);
    expect(await tableOf(store)).toEqual(before);
  });

  it('undoes nothing once a later write to the group was recorded', async () => {
    const store = builtStore();
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    const first = accepted(await judge.judge(write('a', { up: 'GAUGE' })));
    accepted(await judge.judge(write('a', { runs: 'COUNTER' })));
    const after = await tableOf(store);
    expect(await judge.undo(first)).toBe(false);
    expect(await tableOf(store)).toEqual(after);
  });
});

describe('building the index from the backends', () => {
  async function* groupsOf(...groups: StoredGroup[]): AsyncIterable<StoredGroup> {
    for (const g of groups) yield await Promise.resolve(g);
  }

  it('restores each group in order, counting those that conflict with the ones before them', async () => {
    const store = builtStore();
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    const report = await judge.buildIndex(
      groupsOf(stored('a', { up: 'GAUGE' }), stored('b', { up: 'COUNTER' }), stored('c', { up: 'GAUGE', runs: 'COUNTER' })),
    );
    expect(report).toEqual({ groups: 3, changed: 2, conflicts: 1, busy: 0, firstConflicts: [{ group: 'b', message: 'up is a GAUGE, not a COUNTER' }] });
    const table = new Map<string, string>();
    for (const g of ['a', 'c']) {
      const verdict = toyJudge(writeOf(stored(g, g === 'a' ? { up: 'GAUGE' } : { up: 'GAUGE', runs: 'COUNTER' })), (f) => table.get(f));
      if (verdict.ok) applyChange(table, verdict.change);
    }
    expect(await tableOf(store)).toEqual(Object.fromEntries(table));
  });

  it('changes nothing when built again from the same groups', async () => {
    const store = builtStore();
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    const groups = [stored('a', { up: 'GAUGE' }), stored('c', { runs: 'COUNTER' })];
    await judge.buildIndex(groupsOf(...groups));
    const table = await tableOf(store);
    expect(await judge.buildIndex(groupsOf(...groups))).toMatchObject({ groups: 2, changed: 0, conflicts: 0 });
    expect(await tableOf(store)).toEqual(table);
  });

  it(`reports the first ${MAX_REPORTED_CONFLICTS} conflicts and counts them all`, async () => {
    const judge = createJudge({ store: builtStore(), limits: LIMITS, rules: toyRules });
    const conflicting = Array.from({ length: 15 }, (_, i) => stored(`x${i}`, { up: 'COUNTER' }));
    const report = await judge.buildIndex(groupsOf(stored('a', { up: 'GAUGE' }), ...conflicting));
    expect(report).toMatchObject({ groups: 16, changed: 1, conflicts: 15 });
    expect(report.firstConflicts.map((c) => c.group)).toEqual(conflicting.slice(0, MAX_REPORTED_CONFLICTS).map((g) => g.group));
  });

  it('counts as busy a group whose every commit is lost to concurrent writes', async () => {
    const inner = builtStore();
    const store = contested(inner, async (commits) => {
      await inner.commit({ expect: [], set: [['g:a', `other ${commits}`]], add: [] });
    });
    const judge = createJudge({ store, limits: LIMITS, rules: toyRules });
    expect(await judge.buildIndex(groupsOf(stored('a', { up: 'GAUGE' }), stored('b', { runs: 'COUNTER' })))).toMatchObject({ groups: 2, changed: 1, busy: 1 });
  });
});
