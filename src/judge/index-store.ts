/**
 * Where the judge's index (core/index-table.ts) lives: in this process's memory for a lone front
 * door, or in Redis (judge/redis-index-store.ts) so that every front door judges against one
 * table and records through one atomic step. Both implementations pass one contract suite
 * (test/contracts/index-store.ts); a difference between them is a bug in one of them.
 */
import { applyChange, type FieldValue, type IndexChange } from '../core/index-table.js';

/**
 * One table of string fields. Every implementation keeps this contract.
 *
 * Reads: read(fields) answers each field's value (undefined: absent), in the order asked, in one
 * round trip; the answer is one moment's state of the table, never a mix of two commits.
 *
 * Commits: commit(change) is atomic with exactly applyChange's semantics: every expectation is
 * checked against the state before the change; if one fails, nothing is applied and it resolves
 * false; otherwise the sets apply in order (a later set of a field wins), then the counter adds
 * in order, each seeing the previous (absent = 0, a result of 0 or less deletes the field), and
 * it resolves true. Concurrent commits through any number of stores over the same table
 * serialise: of two claims "f absent → set f", exactly one applies. A change of thousands of
 * fields is one commit like any other. Counter deltas must be safe integers (a RangeError
 * otherwise, before anything is sent), and counter fields hold what commits left there: decimal
 * integers.
 *
 * Scans: scan(prefix, cursor, count) walks the fields whose names start with `prefix` (matched
 * literally) in batches, starting from cursor '0' and handing back the cursor of the next batch,
 * '0' once the walk is done. A batch is bounded by `count` — in memory at most `count` fields are
 * looked at per call; Redis's HSCAN may hand back somewhat more (it never splits a hash bucket,
 * and a small hash comes whole) — and may be empty before the walk is done. Over a table nobody
 * changes meanwhile, each field of the prefix is visited exactly once. A field present for the
 * whole walk is visited at least once, with its value of that moment; fields added or deleted
 * meanwhile may be visited or not, and in Redis a hash shrinking under the walk may hand a field
 * back twice. A cursor is valid only with the store that gave it and the same prefix.
 *
 * Failure: judging fails closed. When the table cannot be reached (Redis down, refusing, or slower
 * than its command time-out), read, commit and scan reject at once or within that time-out, never
 * queueing, with an IndexStoreError whose `code` is JUDGE_STORE_UNAVAILABLE. A rejected commit's
 * outcome is unknown: a commit that timed out may still apply once Redis answers again. Once the
 * table is reachable again the same store works, without a restart.
 *
 * close() forgets what the store holds for itself (open scans); it never closes a client it was
 * given.
 */
export interface IndexStore {
  read(fields: readonly string[]): Promise<FieldValue[]>;
  /** True when the change applied; false when an expectation failed (nothing applied). */
  commit(change: IndexChange): Promise<boolean>;
  scan(prefix: string, cursor: string, count: number): Promise<ScanBatch>;
  close(): Promise<void>;
}

export interface ScanBatch {
  readonly entries: Array<[field: string, value: string]>;
  /** '0': the walk is done. */
  readonly cursor: string;
}

export const JUDGE_STORE_UNAVAILABLE = 'JUDGE_STORE_UNAVAILABLE';

/** The table could not be reached; match it on `code`. The judge refuses the push (fails closed). */
export class IndexStoreError extends Error {
  readonly code = JUDGE_STORE_UNAVAILABLE;
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'IndexStoreError';
  }
}

/** True for an error that says the judge's table is out of reach (any store). */
export function isIndexStoreUnavailable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === JUDGE_STORE_UNAVAILABLE;
}

/** Throws a RangeError unless every counter delta is a safe integer: both stores then compute the same decimal strings. */
export function checkCounterDeltas(change: IndexChange): void {
  for (const [field, delta] of change.add) {
    if (!Number.isSafeInteger(delta)) throw new RangeError(`index change: the delta of counter "${field}" is ${delta}, not a safe integer`);
  }
}

/** Scans a caller may leave unfinished before the oldest is forgotten (a forgotten cursor is refused). */
const MAX_OPEN_SCANS = 64;

/** The table in a Map: commits apply synchronously, so they are atomic with respect to each other. */
export function createMemoryIndexStore(): IndexStore {
  const table = new Map<string, string>();
  // A Map iterator stays valid while the Map changes: it skips entries deleted before it reaches
  // them and visits entries added meanwhile, so a resumed walk never skips a field that stayed.
  const scans = new Map<string, { prefix: string; entries: Iterator<[string, string]> }>();
  let scanIds = 0;
  return {
    async read(fields) {
      return fields.map((field) => table.get(field));
    },
    async commit(change) {
      checkCounterDeltas(change);
      return applyChange(table, change);
    },
    async scan(prefix, cursor, count) {
      let scan = scans.get(cursor);
      if (cursor === '0') {
        scan = { prefix, entries: table.entries() };
        cursor = String(++scanIds);
        if (scans.size >= MAX_OPEN_SCANS) scans.delete(scans.keys().next().value!);
        scans.set(cursor, scan);
      } else if (scan === undefined || scan.prefix !== prefix) {
        throw new RangeError(`index scan: unknown cursor "${cursor}" for prefix "${prefix}" (finished, forgotten, or not this store's)`);
      }
      const entries: Array<[string, string]> = [];
      for (let looked = 0; looked < Math.max(1, count); looked++) {
        const next = scan.entries.next();
        if (next.done === true) {
          scans.delete(cursor);
          return { entries, cursor: '0' };
        }
        if (next.value[0].startsWith(prefix)) entries.push([next.value[0], next.value[1]]);
      }
      return { entries, cursor };
    },
    async close() {
      scans.clear();
    },
  };
}
