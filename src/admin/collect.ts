/**
 * Reads every replica of every shard (draining ones too) into an AdminPlan: the union of what
 * the replicas hold, streamed group by group (Backend.streamGroups), so a replica's answer is
 * never held whole. A replica known down is not asked; one that fails while read counts as
 * unread, and a shard none of whose replicas was read is named (core/admin.ts).
 */
import type { Backend } from '../backends/client.js';
import type { Cluster } from '../backends/cluster.js';
import { AdminPlan } from '../core/admin.js';
import { groupingKeyOf } from '../core/repair.js';

export async function collectGroups(cluster: Pick<Cluster, 'shards'>, pattern: string): Promise<AdminPlan> {
  const plan = new AdminPlan(pattern);
  // Shards in parallel: the plan is what is held, bounded by MAX_GROUPS_PER_CALL, not the answers.
  await Promise.all(
    [...cluster.shards.values()].map(async (shard) => {
      const unread: string[] = [];
      await Promise.all(
        shard.backends.map(async (backend) => {
          if (!(await readInto(plan, shard.name, backend))) unread.push(backend.id);
        }),
      );
      plan.shardRead(shard.name, shard.backends.length, unread.sort());
    }),
  );
  return plan;
}

async function readInto(plan: AdminPlan, shard: string, backend: Backend): Promise<boolean> {
  if (!backend.up) return false;
  try {
    for await (const group of backend.streamGroups()) plan.add(shard, groupingKeyOf(group));
    return true;
  } catch {
    return false;
  }
}
