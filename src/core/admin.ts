/**
 * Administration through the front door (README "Cleaning up through the front door"), the pure
 * part: which job pattern a call names, which groups it takes (deduplicated across the replicas
 * and shards they were read from, within a bound), whether it may go ahead, and its answer.
 * Reading the replicas and deleting are src/admin/.
 */
import { compileGlob, type Glob } from './glob.js';
import type { GroupingKey } from './grouping-key.js';

/** Groups one call deletes at most; past it the answer says `more` and the caller calls again. */
export const MAX_GROUPS_PER_CALL = 100_000;
/** Groups an answer lists at most (deleted, or that a dry run would delete); the totals count all. */
export const MAX_LISTED = 10_000;
/** Failures an answer lists at most. */
export const MAX_FAILURES_LISTED = 100;
/** Deletions in flight at once per call. */
export const DELETE_CONCURRENCY = 8;

export const JOBS_PREFIX = '/api/v1/admin/jobs/';

/** The job glob of `DELETE /api/v1/admin/jobs/{glob}` (percent-encoded), or why it is none. */
export function parseJobsPath(url: string): { readonly ok: true; readonly glob: string } | { readonly ok: false; readonly problem: string } {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (!path.startsWith(JOBS_PREFIX)) return { ok: false, problem: `the path does not start with ${JOBS_PREFIX}` };
  const raw = path.slice(JOBS_PREFIX.length);
  if (raw === '') return { ok: false, problem: 'the job glob is empty; name a job or a pattern such as batch-* (use * for every job)' };
  let glob: string;
  try {
    glob = decodeURIComponent(raw);
  } catch {
    return { ok: false, problem: 'the job glob is not valid percent-encoding; encode it with encodeURIComponent (or curl --data-urlencode)' };
  }
  if (!glob.isWellFormed()) return { ok: false, problem: 'the job glob is not valid UTF-8' };
  return { ok: true, glob };
}

/**
 * `?dry_run=true` (or `1`) lists, `false` (or `0`) or no query deletes. Anything else is refused
 * rather than guessed: a mistyped `dry_run=yes` or `dry-run=true` must not become a real wipe.
 */
export function parseDryRun(url: string): { readonly ok: true; readonly dryRun: boolean } | { readonly ok: false; readonly problem: string } {
  const query = url.indexOf('?');
  if (query === -1) return { ok: true, dryRun: false };
  const params = new URLSearchParams(url.slice(query + 1));
  for (const name of params.keys()) {
    if (name !== 'dry_run') return { ok: false, problem: `unknown query parameter ${JSON.stringify(name)} (the only one is dry_run=true)` };
  }
  const values = params.getAll('dry_run');
  if (values.length === 0) return { ok: true, dryRun: false };
  const value = values.length === 1 ? values[0]! : undefined;
  if (value === 'true' || value === '1') return { ok: true, dryRun: true };
  if (value === 'false' || value === '0') return { ok: true, dryRun: false };
  return { ok: false, problem: `dry_run must be true, 1, false or 0 (given once), not ${JSON.stringify(values.join(','))}` };
}

/** One group a call takes: its key and the shards it was read from. */
export interface PlannedGroup {
  readonly key: GroupingKey;
  readonly shards: Set<string>;
}

/**
 * The groups a call takes, as the replicas are read: the union of every replica read, each group
 * once however many replicas and shards hold it, at most MAX_GROUPS_PER_CALL.
 */
export class AdminPlan {
  private readonly glob: Glob;
  readonly groups = new Map<string, PlannedGroup>();
  /** A matching group was seen past the bound. */
  more = false;
  /** Shards of which no replica could be read. */
  readonly unreadShards: string[] = [];
  /** Replicas (`shard/replica`) that could not be read, in shards where another one was. */
  readonly unreadReplicas: string[] = [];

  constructor(
    readonly pattern: string,
    private readonly maxGroups = MAX_GROUPS_PER_CALL,
  ) {
    this.glob = compileGlob(pattern);
  }

  /** Whether the call takes groups of this job. */
  matches(job: string): boolean {
    return this.glob.test(job);
  }

  /** A group read on `shard`; ignored when its job does not match. */
  add(shard: string, key: GroupingKey): void {
    if (!this.glob.test(key.job)) return;
    const known = this.groups.get(key.canonical);
    if (known !== undefined) {
      known.shards.add(shard);
      return;
    }
    if (this.groups.size >= this.maxGroups) {
      this.more = true;
      return;
    }
    this.groups.set(key.canonical, { key, shards: new Set([shard]) });
  }

  /** What was read of one shard: how many replicas it has and which could not be read. */
  shardRead(shard: string, replicas: number, unread: readonly string[]): void {
    if (unread.length >= replicas) this.unreadShards.push(shard);
    else this.unreadReplicas.push(...unread);
  }
}

/** Why one group could not be deleted (bounded: fixed words plus a catalogue code or a status). */
export interface DeleteFailure {
  readonly key: GroupingKey;
  readonly reason: string;
}

export type AdminCall = 'wipe' | 'jobs';

/** What a call ended as, for the metric: bounded, fixed values. */
export type AdminOutcome = 'dry_run' | 'deleted' | 'partial' | 'refused';

export interface AdminAnswer {
  readonly status: number;
  readonly outcome: AdminOutcome;
  /** Set when the answer is one of the catalogue's: the X-Pushring-Error header. */
  readonly code: 'PUSHRING_ADMIN_SHARD_UNREADABLE' | 'PUSHRING_ADMIN_INCOMPLETE' | undefined;
  readonly body: AdminReport;
}

export interface ListedGroup {
  readonly labels: Record<string, string>;
  readonly shards: string[];
}

export interface AdminReport {
  readonly dryRun: boolean;
  readonly jobs: string;
  /** Every shard was read and every group taken was deleted (or, in a dry run, would be). */
  readonly complete: boolean;
  /** More groups match than one call takes: call again. */
  readonly more: boolean;
  readonly matched: number;
  readonly deleted: number;
  readonly failed: number;
  /** Deleted (or, in a dry run, that would be), at most MAX_LISTED. */
  readonly groups: ListedGroup[];
  readonly groupsTruncated: boolean;
  readonly failures: Array<{ readonly labels: Record<string, string>; readonly reason: string }>;
  readonly unreadShards: string[];
  readonly unreadReplicas: string[];
}

function labelsOf(key: GroupingKey): Record<string, string> {
  return Object.fromEntries(key.labels);
}

function listed(groups: Iterable<PlannedGroup>): { groups: ListedGroup[]; truncated: boolean } {
  const out: ListedGroup[] = [];
  let truncated = false;
  for (const g of groups) {
    if (out.length >= MAX_LISTED) {
      truncated = true;
      break;
    }
    out.push({ labels: labelsOf(g.key), shards: [...g.shards].sort() });
  }
  return { groups: out, truncated };
}

/**
 * Before anything is deleted: a real run over a shard that could not be read is refused whole
 * (never half a wipe); a dry run answers now, 200, or 503 when incomplete. Undefined: go ahead.
 */
export function answerBeforeDeleting(call: AdminCall, plan: AdminPlan, dryRun: boolean): AdminAnswer | undefined {
  const unreadable = plan.unreadShards.length > 0;
  if (!dryRun && !unreadable) return undefined;
  const { groups, truncated } = listed(plan.groups.values());
  const body: AdminReport = {
    dryRun,
    jobs: plan.pattern,
    complete: !unreadable && !plan.more,
    more: plan.more,
    matched: plan.groups.size,
    deleted: 0,
    failed: 0,
    groups: dryRun ? groups : [],
    groupsTruncated: dryRun && truncated,
    failures: [],
    unreadShards: [...plan.unreadShards].sort(),
    unreadReplicas: [...plan.unreadReplicas].sort(),
  };
  if (unreadable) return { status: 503, outcome: dryRun ? 'dry_run' : 'refused', code: 'PUSHRING_ADMIN_SHARD_UNREADABLE', body };
  return { status: 200, outcome: 'dry_run', code: undefined, body };
}

/**
 * After deleting: the wipe answers 202 as a Pushgateway's does once every group went (200 when
 * more remain for another call), the job delete 200; some failed: 503 with the list.
 */
export function answerAfterDeleting(call: AdminCall, plan: AdminPlan, failures: readonly DeleteFailure[]): AdminAnswer {
  const failed = new Set(failures.map((f) => f.key.canonical));
  const deleted = [...plan.groups.values()].filter((g) => !failed.has(g.key.canonical));
  const { groups, truncated } = listed(deleted);
  const partial = failures.length > 0;
  const body: AdminReport = {
    dryRun: false,
    jobs: plan.pattern,
    complete: !partial && !plan.more,
    more: plan.more,
    matched: plan.groups.size,
    deleted: deleted.length,
    failed: failures.length,
    groups,
    groupsTruncated: truncated,
    failures: failures.slice(0, MAX_FAILURES_LISTED).map((f) => ({ labels: labelsOf(f.key), reason: f.reason })),
    unreadShards: [],
    unreadReplicas: [...plan.unreadReplicas].sort(),
  };
  if (partial) return { status: 503, outcome: 'partial', code: 'PUSHRING_ADMIN_INCOMPLETE', body };
  const status = call === 'wipe' && !plan.more ? 202 : 200;
  return { status, outcome: 'deleted', code: undefined, body };
}
