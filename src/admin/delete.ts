/**
 * Deletes the groups of an AdminPlan through the path a client's DELETE takes (http/push.ts):
 * the body judge (the index forgets the group), the fence, then writeGroup (the owner; during a
 * ring change the old owner, then the new), every replica missed marked suspect and hinted by
 * the write observer. A group also found on a shard that is neither (a draining shard, a stray
 * copy) is deleted there too, with the same observer. At most DELETE_CONCURRENCY at once.
 */
import type { Cluster } from '../backends/cluster.js';
import type { AckPolicy } from '../config/schema.js';
import { DELETE_CONCURRENCY, type AdminPlan, type DeleteFailure, type PlannedGroup } from '../core/admin.js';
import { formatGroupingPath } from '../core/grouping-key.js';
import type { BodyJudge } from '../http/judging.js';
import type { PushRequest, Refusal } from '../http/push.js';
import type { WriteObserver } from '../write/fan-out.js';
import { runBounded } from '../reconcile/execute.js';
import { writeToShard } from '../write/fan-out.js';
import { writeGroup } from '../write/group-write.js';
import { requiredAcks, type WriteOutcome } from '../write/outcome.js';

export interface DeletePath {
  readonly cluster: Pick<Cluster, 'ownerOf' | 'previousOwnerOf' | 'shards'>;
  readonly ack: AckPolicy;
  readonly judge: BodyJudge;
  /** The fence (push.ts checkFence), right before the write. */
  readonly lastCheck: (key: PlannedGroup['key']) => Refusal | undefined;
  readonly observer: WriteObserver;
}

const NO_BODY: PushRequest = Object.freeze({ method: 'DELETE', headers: Object.freeze({}), body: null });

/** Deletes every group of the plan; resolves with the ones that failed and why. */
export async function deletePlanned(path: DeletePath, plan: AdminPlan): Promise<DeleteFailure[]> {
  const failures: DeleteFailure[] = [];
  await runBounded([...plan.groups.values()], DELETE_CONCURRENCY, async (group) => {
    const reason = await deleteOne(path, group).catch((err: unknown) => `internal error: ${err instanceof Error ? err.message : String(err)}`);
    if (reason !== undefined) failures.push({ key: group.key, reason });
  });
  return failures;
}

/** Undefined once deleted; otherwise why not. */
async function deleteOne(path: DeletePath, group: PlannedGroup): Promise<string | undefined> {
  const { cluster, ack, judge, lastCheck, observer } = path;
  const { key } = group;
  const judged = await judge.judge(key, 'DELETE', NO_BODY);
  if (judged.kind === 'refused') return `refused by ${judged.refusal.code}`;
  if (judged.kind === 'pushgateway') return `refused by the judge (${judged.status})`;
  const late = lastCheck(key);
  if (late !== undefined) {
    await judged.cancel?.();
    return `refused by ${late.code}`;
  }
  const request = { group: key.canonical, method: 'DELETE', path: formatGroupingPath(key), headers: [], body: null, receivedAt: Date.now() } as const;
  const written = await writeGroup(cluster, ack, { ...request, headers: [] }, observer);
  const outcome = judged.settle === undefined ? written : await judged.settle(written);
  const problem = problemOf(outcome);
  if (problem !== undefined) return problem;
  // Where the group was read but the write path does not go: deleted there as well.
  const covered = new Set([cluster.ownerOf(key.canonical).name, cluster.previousOwnerOf(key.canonical)?.name]);
  for (const name of group.shards) {
    if (covered.has(name)) continue;
    const shard = cluster.shards.get(name);
    if (shard === undefined) continue;
    const extra = problemOf(await writeToShard(shard, requiredAcks(ack, shard.backends.length), { ...request, headers: [] }, observer));
    if (extra !== undefined) return `${extra} (on shard ${name}, which holds a copy outside the group's owner)`;
  }
  return undefined;
}

function problemOf(outcome: WriteOutcome): string | undefined {
  if (outcome.kind === 'failed') return `PUSHRING_${outcome.code} on shard ${outcome.shard} (${outcome.stored} of ${outcome.required} replica(s) needed)`;
  if (outcome.status >= 300) return `a replica answered ${outcome.status}`;
  return undefined;
}
