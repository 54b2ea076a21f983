import { describe, expect, it } from 'vitest';
import type { ApiGroup } from '../../src/core/exposition.js';
import { planMigration, type ShardView } from '../../src/core/migrate.js';
import { toGroupCopy, type ReplicaView } from '../../src/core/repair.js';

function group(job: string, value: string, pushTime: number): ApiGroup {
  return {
    labels: { job },
    m: { type: 'GAUGE', metrics: [{ labels: { job }, value }] },
    push_time_seconds: { type: 'GAUGE', metrics: [{ labels: { job }, value: String(pushTime) }] },
  } as unknown as ApiGroup;
}
const replica = (id: string, groups: ApiGroup[], suspectSince?: number): ReplicaView => ({
  id,
  groups: new Map(groups.map((g) => [toGroupCopy(g).canonical, toGroupCopy(g)])),
  suspectSince,
});
const shard = (name: string, ...replicas: ReplicaView[]): ShardView => ({ name, replicas });
// The new ring: jobs starting with "y" belong to y, the rest to x.
const ownerOf = (canonical: string) => (canonical.startsWith('{job="y') ? 'y' : 'x');
const show = (plan: ReturnType<typeof planMigration>) => plan.actions.map((a) => (a.kind === 'copy' ? `copy ${a.canonical} ${a.from}->${a.to}` : `delete ${a.canonical} on ${a.on}`));

describe('planMigration', () => {
  it('in the copy phase copies a moved group from its old shard to every owner replica that lacks it, deleting nothing', () => {
    const plan = planMigration([shard('x', replica('x/0', [group('ymoved', '1', 10)]), replica('x/1', [group('ymoved', '1', 10)])), shard('y', replica('y/0', []), replica('y/1', []))], ownerOf, 'copy');
    expect(show(plan)).toEqual(['copy {job="ymoved"} x/0->y/0', 'copy {job="ymoved"} x/0->y/1']);
    expect([plan.misplaced, plan.unsettled]).toEqual([1, 1]);
  });

  it('in the copy phase overwrites an owner replica that received a copy and differs: the old shard is the authority', () => {
    const plan = planMigration([shard('x', replica('x/0', [group('ymoved', 'latest', 10)])), shard('y', replica('y/0', [group('ymoved', 'copy-raced', 20)], 15))], ownerOf, 'copy');
    expect(show(plan)).toEqual(['copy {job="ymoved"} x/0->y/0']);
  });

  it('in the copy phase leaves a trusted owner replica holding a newer push (a dual write read moments later)', () => {
    const plan = planMigration([shard('x', replica('x/0', [group('ymoved', 'v5', 10)])), shard('y', replica('y/0', [group('ymoved', 'v6', 11)]))], ownerOf, 'copy');
    expect(show(plan)).toEqual([]);
    expect(plan.unsettled).toBe(0);
  });

  it('in the copy phase copies over a trusted owner replica holding an older value', () => {
    const plan = planMigration([shard('x', replica('x/0', [group('ymoved', 'v6', 11)])), shard('y', replica('y/0', [group('ymoved', 'v5', 10)]))], ownerOf, 'copy');
    expect(show(plan)).toEqual(['copy {job="ymoved"} x/0->y/0']);
  });

  it('reports nothing unsettled once the owner holds the same content, whatever the push times', () => {
    const plan = planMigration([shard('x', replica('x/0', [group('ymoved', '1', 10)])), shard('y', replica('y/0', [group('ymoved', '1', 99)]))], ownerOf, 'copy');
    expect(show(plan)).toEqual([]);
    expect([plan.misplaced, plan.unsettled]).toEqual([1, 0]);
  });

  it('in the delete phase deletes every stray copy and never copies over the owner', () => {
    const plan = planMigration(
      [shard('x', replica('x/0', [group('ymoved', 'old', 10), group('xstays', '1', 5)]), replica('x/1', [group('ymoved', 'old', 10)])), shard('y', replica('y/0', [group('ymoved', 'newer', 20)]))],
      ownerOf,
      'delete',
    );
    expect(show(plan)).toEqual(['delete {job="ymoved"} on x/0', 'delete {job="ymoved"} on x/1']);
  });

  it('in the delete phase copies first a group no owner replica holds at all', () => {
    const plan = planMigration([shard('x', replica('x/0', [group('yorphan', '1', 10)])), shard('y', replica('y/0', []), replica('y/1', []))], ownerOf, 'delete');
    expect(show(plan)).toEqual(['copy {job="yorphan"} x/0->y/0', 'copy {job="yorphan"} x/0->y/1']);
  });

  it('takes the newest stray as the source when several shards hold one, trusted replicas first', () => {
    const plan = planMigration(
      [shard('x', replica('x/0', [group('yg', 'trusted-old', 10)]), replica('x/1', [group('yg', 'suspect-copy', 50)], 1)), shard('y', replica('y/0', []))],
      ownerOf,
      'copy',
    );
    expect(show(plan)).toEqual(['copy {job="yg"} x/0->y/0']);
  });
});
