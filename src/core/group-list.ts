/**
 * The list of groups the page at `/` shows (GET /-/api/groups): its query, one row per group, and
 * the first `limit` rows in order kept as the shards are read, so that a ring of 100,000 groups
 * costs `limit` rows of memory, not the ring.
 */
import type { ApiGroup } from './exposition.js';
import { pushRecordOf } from './exposition.js';

export const DEFAULT_GROUPS_LISTED = 500;
export const MAX_GROUPS_LISTED = 5_000;
/** Characters of a job glob: a filter, not a payload. */
const MAX_JOB_PATTERN = 1_024;

export interface GroupQuery {
  /** A job glob (core/glob.ts): `*` every job. */
  readonly job: string;
  readonly limit: number;
}

/** Parses `?job=<glob>&limit=<n>`; a problem says what was wrong and what to give instead. */
export function parseGroupQuery(
  query: Readonly<Record<string, unknown>>,
): { readonly ok: true; readonly query: GroupQuery } | { readonly ok: false; readonly problem: string } {
  const single = (name: string): string | undefined | null => {
    const v = query[name];
    if (v === undefined) return undefined;
    return typeof v === 'string' ? v : null;
  };
  const job = single('job');
  if (job === null) return { ok: false, problem: 'give job once' };
  if (job !== undefined && job.length > MAX_JOB_PATTERN) return { ok: false, problem: `job is longer than ${MAX_JOB_PATTERN} characters; give a shorter glob` };
  const limitText = single('limit');
  if (limitText === null) return { ok: false, problem: 'give limit once' };
  let limit = DEFAULT_GROUPS_LISTED;
  if (limitText !== undefined) {
    if (!/^\d{1,6}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_GROUPS_LISTED)
      return { ok: false, problem: `limit must be a whole number from 1 to ${MAX_GROUPS_LISTED}, not ${JSON.stringify(limitText.slice(0, 40))}` };
    limit = Number(limitText);
  }
  return { ok: true, query: { job: job === undefined || job === '' ? '*' : job, limit } };
}

export interface GroupRow {
  readonly job: string;
  /** The grouping labels besides `job`. */
  readonly labels: Readonly<Record<string, string>>;
  readonly shard: string;
  /** The last successful push (s since the epoch), or null when none succeeded. */
  readonly lastPush: number | null;
  /** The last failed push (s since the epoch), or null. */
  readonly lastFailure: number | null;
  /** Whether the last push failed (the Pushgateway's verdict where it gives one). */
  readonly failed: boolean;
}

export function rowOf(group: ApiGroup, shard: string): GroupRow {
  const { job = '', ...labels } = group.labels;
  const record = pushRecordOf(group);
  return {
    job,
    labels,
    shard,
    lastPush: record.pushTime > 0 ? record.pushTime : null,
    lastFailure: record.failureTime > 0 ? record.failureTime : null,
    failed: record.lastPushFailed,
  };
}

/** Job first, then the other grouping labels: the order the page lists groups in. */
export function compareRows(a: GroupRow, b: GroupRow): number {
  if (a.job !== b.job) return a.job < b.job ? -1 : 1;
  const ka = labelText(a);
  const kb = labelText(b);
  return ka === kb ? 0 : ka < kb ? -1 : 1;
}

function labelText(row: GroupRow): string {
  return Object.keys(row.labels)
    .sort()
    .map((k) => `${k}\u0000${row.labels[k]}`)
    .join('\u0001');
}

/** The first `limit` items in `compare` order of all those offered, and how many were offered. */
export class FirstInOrder<T> {
  private readonly items: T[] = [];
  offered = 0;

  constructor(
    private readonly limit: number,
    private readonly compare: (a: T, b: T) => number,
  ) {}

  offer(item: T): void {
    this.offered++;
    const { items, limit, compare } = this;
    if (items.length >= limit && compare(item, items[items.length - 1]!) >= 0) return;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(items[mid]!, item) <= 0) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, item);
    if (items.length > limit) items.pop();
  }

  get list(): readonly T[] {
    return this.items;
  }
}
