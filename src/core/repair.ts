/**
 * What to do to bring the replicas of one shard back in line, from what each of them holds.
 * Pure: the reconciler reads the replicas, asks planRepairs, and carries the plan out.
 *
 * Why not simply "the newest push_time_seconds wins": a copy made by the reconciler gets the
 * *copy's* push time. A push that lands between the reconciler's read and its copy would then
 * look older than the stale copy, and the next pass would spread the stale value. So replicas
 * are either *trusted* (no recorded missed write, no restart, no copy received since they were
 * last found in sync) or *suspect*. A trusted replica's push times are genuine client push
 * times, so the newest trusted copy of a group is its truth; the reconciler marks every replica
 * it copies to as suspect, which keeps that true. Only when no replica holding a group is trusted
 * does the newest push time among all of them decide, and then nothing is deleted. Groups whose
 * content is equal everywhere are never touched, whatever their push times.
 *
 * Whether a group's last push failed (the Pushgateway refused it after the last successful one)
 * is part of its content: BatchJobPushFailed alerts on it, so a copy must carry it (the copy is
 * followed by a push the target refuses, reconcile/copy-group.ts), and replicas that disagree on
 * it are repaired like replicas that hold different values. Among the holders to copy from, the
 * newest *event* wins, a success or a refusal: the Pushgateway stamps both replicas' copies of one
 * push microseconds apart, so a replica that missed a refusal must not win by its push time.
 */
import { familiesOf, pushRecordOf, PUSHGATEWAY_FAMILIES, type ApiGroup } from './exposition.js';
import { makeGroupingKey, type GroupingKey } from './grouping-key.js';

export interface GroupCopy {
  readonly canonical: string;
  readonly job: string;
  readonly group: ApiGroup;
  /** push_time_seconds, in seconds since the epoch; 0 when the group was never pushed successfully. */
  readonly pushTime: number;
  /** push_failure_time_seconds, likewise; 0 when no push of the group was ever refused. */
  readonly failureTime: number;
  /**
   * Equal for groups with equal pushed content and the same verdict on their last push (failed
   * or not), whatever their push times.
   */
  readonly content: string;
  /**
   * The same, per metric family: a POST changes some families and leaves the others. A group
   * whose last push failed has an entry `push_failure_time_seconds` too (no pushed family can
   * have that name).
   */
  readonly families: ReadonlyMap<string, string>;
}

export interface ReplicaView {
  readonly id: string;
  readonly groups: ReadonlyMap<string, GroupCopy>;
  /** Set when the replica may have missed writes: since when (ms since the epoch). */
  readonly suspectSince: number | undefined;
}

export type RepairAction =
  | { readonly kind: 'copy'; readonly canonical: string; readonly from: string; readonly to: string; readonly reason: 'missing' | 'differs' }
  | { readonly kind: 'delete'; readonly canonical: string; readonly on: string; readonly reason: 'deleted-while-away' | 'expired' };

export interface RepairOptions {
  /** Milliseconds since the epoch. */
  readonly now: number;
  /** Maximum age in seconds of a job's groups, or undefined when they never expire. */
  maxAgeOf(job: string): number | undefined;
}

export function planRepairs(replicas: readonly ReplicaView[], options: RepairOptions): RepairAction[] {
  const actions: RepairAction[] = [];
  const trusted = replicas.filter((r) => r.suspectSince === undefined);
  const canonicals = new Set<string>();
  for (const r of replicas) for (const key of r.groups.keys()) canonicals.add(key);

  for (const canonical of [...canonicals].sort()) {
    const holders = replicas.filter((r) => r.groups.has(canonical));
    const newest = maxBy(
      holders.map((r) => r.groups.get(canonical)!),
      (g) => g.pushTime,
    )!;
    const maxAge = options.maxAgeOf(newest.job);
    if (maxAge !== undefined && newest.pushTime > 0 && options.now / 1000 - newest.pushTime > maxAge) {
      for (const r of holders) actions.push({ kind: 'delete', canonical, on: r.id, reason: 'expired' });
      continue;
    }
    const trustedHolders = trusted.filter((r) => r.groups.has(canonical));
    if (trustedHolders.length === 0 && trusted.length > 0) {
      // No trusted replica has it, so it was deleted while the suspects were away: a write that
      // reached a suspect but no trusted replica would have made those suspect too. Its push time
      // proves nothing: a frozen Pushgateway applies the pushes buffered in its sockets when it
      // wakes, after their DELETE reached its twin, and they look newest of all.
      for (const r of holders) actions.push({ kind: 'delete', canonical, on: r.id, reason: 'deleted-while-away' });
      continue;
    }
    const source = maxBy(trustedHolders.length > 0 ? trustedHolders : holders, (r) => newestEventOf(r.groups.get(canonical)!))!;
    const truth = source.groups.get(canonical)!;
    for (const r of replicas) {
      if (r === source) continue;
      const copy = r.groups.get(canonical);
      if (copy === undefined) actions.push({ kind: 'copy', canonical, from: source.id, to: r.id, reason: 'missing' });
      else if (copy.content !== truth.content) actions.push({ kind: 'copy', canonical, from: source.id, to: r.id, reason: 'differs' });
    }
  }
  return actions;
}

/** The grouping key of a group of /api/v1/metrics (its labels are the grouping labels). */
export function groupingKeyOf(group: ApiGroup): GroupingKey {
  return makeGroupingKey(new Map(Object.entries(group.labels)));
}

/** A group of /api/v1/metrics as the planner sees it. */
export function toGroupCopy(group: ApiGroup): GroupCopy {
  const key = groupingKeyOf(group);
  const { pushTime, failureTime, lastPushFailed } = pushRecordOf(group);
  const families = new Map<string, string>();
  for (const [name, family] of familiesOf(group)) {
    if (PUSHGATEWAY_FAMILIES.has(name)) continue;
    const metrics = family.metrics.map((m) => JSON.stringify(sortKeysDeep(m))).sort();
    families.set(name, JSON.stringify({ type: family.type, help: family.help ?? '', metrics }));
  }
  if (lastPushFailed) families.set(LAST_PUSH_FAILED, 'the last push failed');
  const content = JSON.stringify([...families]); // familiesOf sorts them by name
  return { canonical: key.canonical, job: key.job, group, pushTime, failureTime, content, families };
}

const LAST_PUSH_FAILED = 'push_failure_time_seconds';

/** The time of a group's newest push on a replica, stored or refused. */
export function newestEventOf(group: Pick<GroupCopy, 'pushTime' | 'failureTime'>): number {
  return Math.max(group.pushTime, group.failureTime);
}

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, sortKeysDeep(v)]),
    );
  }
  return value;
}

/** The item with the highest score (the first of equals); undefined when there is none. */
export function maxBy<T>(items: readonly T[], score: (item: T) => number): T | undefined {
  let best: T | undefined;
  let bestScore = -Infinity;
  for (const item of items) {
    const s = score(item);
    if (best === undefined || s > bestScore) [best, bestScore] = [item, s];
  }
  return best;
}
