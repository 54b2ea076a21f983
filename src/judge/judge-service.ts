/**
 * The judge over its store: read what a write depends on, judge it (core/judge.ts, pure), record
 * the outcome as one atomic commit. Two front doors that judged against the same state cannot
 * both record: the second commit's expectations fail, and that front door reads again and judges
 * again against what the first recorded. Every store failure rejects (IndexStoreError): judging
 * fails closed, and the caller refuses the push.
 */
import { isEmptyChange, type FieldValue, type IndexChange } from '../core/index-table.js';
import * as rules from '../core/judge.js';
import { GROUP_FIELD_PREFIX, type GroupWrite, type JudgeLimits, type StoredGroup, type Verdict } from '../core/judge.js';
import type { IndexStore } from './index-store.js';

/** Reads, judgements and commits one write may take before it gives up (another front door keeps winning). */
export const MAX_ATTEMPTS = 5;

export type Accepted = Extract<Verdict, { ok: true }>;
export type Refused = Extract<Verdict, { kind: 'inconsistent' }>;

/**
 * A verdict, or `busy`: every attempt lost its commit to a write through another front door (or
 * another request of this one) to the same fields. Not a judgement of the push: the caller answers
 * it as a store that is momentarily unavailable (retry), never as the Pushgateway's 400. Kept apart
 * from core/judge.ts's Verdict because only a store with concurrent writers produces it.
 */
export type Judgement =
  | Verdict
  | { readonly ok: false; readonly kind: 'busy'; readonly attempts: number }
  /** The index lacks the mark a finished build leaves (BUILT_FIELD): it is empty or was lost (Redis restarted empty). */
  | { readonly ok: false; readonly kind: 'unbuilt' };

/** Set when a build of the index from the backends finished; read with every judgement. */
export const BUILT_FIELD = '#built';

/** What became of a refusal's failure record. */
export type FailureOutcome =
  /** The index holds what a checked Pushgateway stores of the refused push (or already did). */
  | 'recorded'
  /** Nothing may be stored of this push anywhere (a poison push: core/judge.ts's `failure` undefined). */
  | 'poison'
  /** Judged again, the write is no longer refused: the index moved on, and no failure is recorded. */
  | 'stale'
  | 'busy';

export interface BuildReport {
  /** Groups read from the backends. */
  readonly groups: number;
  /** Groups whose record changed the index (the others it already held as they are). */
  readonly changed: number;
  /** Groups that conflict with groups restored before them: left out of the index. */
  readonly conflicts: number;
  /** Groups left out because every attempt lost its commit to a concurrent write. */
  readonly busy: number;
  /** The first conflicts (at most MAX_REPORTED_CONFLICTS), for the log. */
  readonly firstConflicts: ReadonlyArray<{ readonly group: string; readonly message: string }>;
}

export const MAX_REPORTED_CONFLICTS = 10;

/** The pure rules the service runs; core/judge.ts's unless a test gives its own. */
export interface JudgeRules {
  readonly fieldsOf: typeof rules.fieldsOf;
  readonly judgeWrite: typeof rules.judgeWrite;
  readonly fieldsOfStored: typeof rules.fieldsOfStored;
  readonly restoreGroup: typeof rules.restoreGroup;
}

export interface Judge {
  /**
   * Judges `write` against the index and, when it is accepted, records it (before the caller
   * writes to the backends). A refusal records nothing: recordFailure does, when the caller
   * stores the refusal's failure on the backends as a checked Pushgateway would.
   */
  judge(write: GroupWrite): Promise<Judgement>;
  /**
   * Records a refusal's `failure`. When the index moved on since the judgement, the write is
   * judged again: still refused, its new failure is recorded instead; accepted now, nothing is.
   */
  recordFailure(write: GroupWrite, refusal: Refused): Promise<FailureOutcome>;
  /**
   * Takes back an accepted write that no backend stored. False when a later write to the group
   * was recorded meanwhile: `undo` expects what `change` left, so it never undoes another write.
   */
  undo(accepted: Accepted): Promise<boolean>;
  /** Lets go of what an accepted write took away, once the backends answered it (Verdict, core/judge.ts). */
  settle(accepted: Accepted): Promise<boolean>;
  /**
   * Makes the index hold every group (a backend's /api/v1/metrics), in order; a group that
   * conflicts with those before it is counted and left out. `onlyAbsent`: a group the index
   * already holds is left as it is — while pushes flow, the index may be ahead of what a backend
   * was read to hold, and only the drift check (which waits for writes in flight) may replace it.
   */
  /** Leaves the mark that the index holds what the backends held (BUILT_FIELD). */
  markBuilt(): Promise<void>;
  buildIndex(
    groups: AsyncIterable<StoredGroup>,
    options?: {
      readonly onlyAbsent?: boolean;
      /** Only while the index still holds this record of the group (a confirmed drift: a push since then wins). */
      readonly expected?: ReadonlyMap<string, string>;
    },
  ): Promise<BuildReport>;
}

export function createJudge(options: { store: IndexStore; limits: JudgeLimits; rules?: JudgeRules }): Judge {
  const { store, limits } = options;
  const { fieldsOf, judgeWrite, fieldsOfStored, restoreGroup } = options.rules ?? rules;

  /** One read of `fields`, as the lookup the rules take; a field they did not name is a bug in them. */
  const readAll = async (fields: readonly string[]): Promise<(field: string) => FieldValue> => {
    const values = await store.read(fields);
    const table = new Map<string, FieldValue>();
    for (let i = 0; i < fields.length; i++) table.set(fields[i]!, values[i]);
    return (field) => {
      if (!table.has(field)) throw new Error(`judge: read of field "${field}", which the rules did not name`);
      return table.get(field);
    };
  };
  /** Commits unless there is nothing to write: the read it was judged on was one moment's state. */
  const record = (change: IndexChange): Promise<boolean> => (isEmptyChange(change) ? Promise.resolve(true) : store.commit(change));

  const judge = async (write: GroupWrite): Promise<Judgement> => {
    const fields = [...fieldsOf(write), BUILT_FIELD];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const read = await readAll(fields);
      if (read(BUILT_FIELD) === undefined) return { ok: false, kind: 'unbuilt' };
      const verdict = judgeWrite(write, read, limits);
      if (!verdict.ok || (await record(verdict.change))) return verdict;
    }
    return { ok: false, kind: 'busy', attempts: MAX_ATTEMPTS };
  };

  const restore = async (
    stored: StoredGroup,
    onlyAbsent: boolean,
    expected: ReadonlyMap<string, string> | undefined,
  ): Promise<'changed' | 'unchanged' | 'busy' | { conflict: string }> => {
    const fields = fieldsOfStored(stored);
    const own = GROUP_FIELD_PREFIX + stored.group;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const read = await readAll(fields);
      if (onlyAbsent && read(own) !== undefined) return 'unchanged';
      if (expected?.has(stored.group) === true && read(own) !== expected.get(stored.group)) return 'unchanged';
      const restored = restoreGroup(stored, read);
      if (!restored.ok) return { conflict: restored.message };
      if (isEmptyChange(restored.change)) return 'unchanged';
      if (await store.commit(restored.change)) return 'changed';
    }
    return 'busy';
  };

  return {
    judge,
    async recordFailure(write, refusal) {
      let failure = refusal.failure;
      for (let attempt = 1; ; attempt++) {
        if (failure === undefined) return 'poison';
        if (await record(failure)) return 'recorded';
        if (attempt === MAX_ATTEMPTS) return 'busy';
        const verdict = judgeWrite(write, await readAll(fieldsOf(write)), limits);
        if (verdict.ok || verdict.kind !== 'inconsistent') return 'stale';
        failure = verdict.failure;
      }
    },
    async undo(accepted) {
      return record(accepted.undo);
    },
    async settle(accepted) {
      return record(accepted.settle);
    },
    async buildIndex(groups, options) {
      const onlyAbsent = options?.onlyAbsent ?? false;
      const expected = options?.expected;
      const counts = { groups: 0, changed: 0, conflicts: 0, busy: 0 };
      const firstConflicts: Array<{ group: string; message: string }> = [];
      for await (const stored of groups) {
        counts.groups++;
        const outcome = await restore(stored, onlyAbsent, expected);
        if (typeof outcome === 'string') {
          if (outcome !== 'unchanged') counts[outcome]++;
          continue;
        }
        counts.conflicts++;
        if (firstConflicts.length < MAX_REPORTED_CONFLICTS) firstConflicts.push({ group: stored.group, message: outcome.conflict });
      }
      return { ...counts, firstConflicts };
    },
    async markBuilt() {
      await store.commit({ expect: [], set: [[BUILT_FIELD, new Date().toISOString()]], add: [] });
    },
  };
}
