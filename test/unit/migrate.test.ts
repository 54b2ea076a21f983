import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ApiGroup } from '../../src/core/exposition.js';
import { keepMoving, memoizeOwnership, planMigration, planMoves, planStrayDeletes, type MigrationPhase, type ShardView } from '../../src/core/migrate.js';
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
// Before the change x owned everything; now jobs starting with "y" belong to the new shard y.
const owners = { now: (canonical: string) => (canonical.startsWith('{job="y') ? 'y' : 'x'), before: () => 'x' };
const show = (plan: ReturnType<typeof planMigration>) =>
  plan.actions.map((a) => (a.kind === 'copy' ? `copy ${a.canonical} ${a.from}->${a.to}` : `delete ${a.canonical} on ${a.on}${a.confirm ? ' (confirm)' : ''}`));

describe('planMigration', () => {
  it('in the copy phase copies a moved group to every new-owner replica that lacks it, deleting nothing', () => {
    const plan = planMigration(
      [
        shard('x', replica('x/0', [group('ymoved', '1', 10), group('xstays', '1', 10)]), replica('x/1', [group('ymoved', '1', 10)])),
        shard('y', replica('y/0', []), replica('y/1', [])),
      ],
      owners,
      'copy',
    );
    expect(show(plan)).toEqual(['copy {job="ymoved"} x/0->y/0', 'copy {job="ymoved"} x/0->y/1']);
    expect([plan.misplaced, plan.unsettled]).toEqual([1, ['{job="ymoved"}']]);
  });

  it('in the copy phase copies over any new-owner content that differs, whatever its push time: the old owner is the authority', () => {
    const plan = planMigration(
      [shard('x', replica('x/0', [group('ymoved', 'latest', 10)])), shard('y', replica('y/0', [group('ymoved', 'copy-raced', 20)]))],
      owners,
      'copy',
    );
    expect(show(plan)).toEqual(['copy {job="ymoved"} x/0->y/0']);
    expect(plan.unsettled).toEqual(['{job="ymoved"}']);
  });

  it('finds a moved group settled once the new owner holds the same content, whatever the push times', () => {
    const plan = planMigration(
      [shard('x', replica('x/0', [group('ymoved', '1', 10)])), shard('y', replica('y/0', [group('ymoved', '1', 99)]))],
      owners,
      'copy',
    );
    expect(show(plan)).toEqual([]);
    expect([plan.misplaced, plan.unsettled]).toEqual([1, []]);
  });

  it('in the copy phase deletes from the new owner a moved group the old owner no longer holds (a DELETE through the old ring)', () => {
    const plan = planMigration(
      [shard('x', replica('x/0', []), replica('x/1', [], 5)), shard('y', replica('y/0', [group('ygone', '1', 10)]), replica('y/1', []))],
      owners,
      'copy',
    );
    expect(show(plan)).toEqual(['delete {job="ygone"} on y/0 (confirm)']);
    expect(plan.unsettled).toEqual(['{job="ygone"}']);
  });

  it('deletes nothing when no replica of the old owner is trusted (one restarted empty proves nothing), but stays unsettled', () => {
    const plan = planMigration(
      [shard('x', replica('x/0', [], 5), replica('x/1', [], 5)), shard('y', replica('y/0', [group('ygone', '1', 10)]))],
      owners,
      'copy',
    );
    expect(show(plan)).toEqual([]);
    expect(plan.unsettled).toEqual(['{job="ygone"}']);
  });

  it('takes the newest copy on the old owner as the source, trusted replicas first', () => {
    const plan = planMigration(
      [shard('x', replica('x/0', [group('yg', 'trusted-old', 10)]), replica('x/1', [group('yg', 'suspect-copy', 50)], 1)), shard('y', replica('y/0', []))],
      owners,
      'copy',
    );
    expect(show(plan)).toEqual(['copy {job="yg"} x/0->y/0']);
  });

  it('copies from the first old-owner replica holding the newest content, so that one source per shard is read again', () => {
    const plan = (t1: number, v1: string) =>
      show(
        planMigration(
          [shard('x', replica('x/0', [group('yg', '1', 10)]), replica('x/1', [group('yg', v1, t1)])), shard('y', replica('y/0', []))],
          owners,
          'copy',
        ),
      );
    expect(plan(11, '1')).toEqual(['copy {job="yg"} x/0->y/0']);
    expect(plan(11, '2')).toEqual(['copy {job="yg"} x/1->y/0']);
    expect(plan(9, '2')).toEqual(['copy {job="yg"} x/0->y/0']);
  });

  it('in the hold phase neither copies nor deletes, and still reports what is left', () => {
    const plan = planMigration(
      [shard('x', replica('x/0', [group('ymoved', 'old', 10)])), shard('y', replica('y/0', [group('ymoved', 'pushed-to-y-alone', 20)]))],
      owners,
      'hold',
    );
    expect(show(plan)).toEqual([]);
    expect([plan.misplaced, plan.unsettled]).toEqual([1, ['{job="ymoved"}']]);
  });

  it('in the delete phase deletes every copy outside its owner and never copies, even to an owner that lacks it', () => {
    const plan = planMigration(
      [
        shard(
          'x',
          replica('x/0', [group('ymoved', 'old', 10), group('xstays', '1', 5), group('ydeleted', '1', 5)]),
          replica('x/1', [group('ymoved', 'old', 10)]),
        ),
        shard('y', replica('y/0', [group('ymoved', 'newer', 20)])),
      ],
      owners,
      'delete',
    );
    expect(show(plan)).toEqual(['delete {job="ydeleted"} on x/0', 'delete {job="ymoved"} on x/0', 'delete {job="ymoved"} on x/1']);
  });

  it('copies and deletes only on the new owner before the delete phase, and only deletes strays in it (any holdings)', () => {
    const jobs = ['xa', 'xb', 'ya', 'yb'];
    const holdings = fc.array(fc.record({ job: fc.constantFrom(...jobs), value: fc.constantFrom('1', '2'), time: fc.integer({ min: 1, max: 9 }) }), {
      maxLength: 4,
    });
    fc.assert(
      fc.property(holdings, holdings, holdings, fc.constantFrom<MigrationPhase>('copy', 'hold', 'delete'), fc.boolean(), (x0, x1, y0, phase, suspect) => {
        const uniq = (gs: typeof x0) => [...new Map(gs.map((g) => [g.job, group(g.job, g.value, g.time)])).values()];
        const plan = planMigration(
          [shard('x', replica('x/0', uniq(x0), suspect ? 1 : undefined), replica('x/1', uniq(x1))), shard('y', replica('y/0', uniq(y0)))],
          owners,
          phase,
        );
        for (const a of plan.actions) {
          if (phase !== 'delete') expect(a.kind === 'copy' ? a.to : a.on).toBe('y/0');
          if (phase === 'hold') throw new Error('an action in the hold phase');
          if (phase === 'delete') expect(a.kind === 'delete' && owners.now(a.canonical) !== a.on.slice(0, 1)).toBe(true);
          // Until the delete phase, nothing is done to a group that does not move.
          else expect(owners.now(a.canonical)).toBe('y');
        }
      }),
    );
  });

  it('plans the same moves from the moving groups alone as from whole shards (what a pass keeps across shards)', () => {
    // Three shards: x loses groups to y, z keeps its own (and may hold strays of either).
    const three = {
      now: (c: string) => (c.startsWith('{job="y') ? 'y' : c.startsWith('{job="z') ? 'z' : 'x'),
      before: (c: string) => (c.startsWith('{job="z') ? 'z' : 'x'),
    };
    const jobs = ['xa', 'ya', 'yb', 'za'];
    const holdings = fc.array(fc.record({ job: fc.constantFrom(...jobs), value: fc.constantFrom('1', '2'), time: fc.integer({ min: 1, max: 9 }) }), {
      maxLength: 4,
    });
    fc.assert(
      fc.property(
        fc.array(holdings, { minLength: 6, maxLength: 6 }),
        fc.constantFrom<'copy' | 'hold'>('copy', 'hold'),
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        (held, phase, suspect) => {
          const uniq = (gs: (typeof held)[number]) => [...new Map(gs.map((g) => [g.job, group(g.job, g.value, g.time)])).values()];
          const views = held.map((gs, i) => replica(`${'xyz'[i >> 1]}/${i & 1}`, uniq(gs), suspect[i] ? 1 : undefined));
          const shards = ['x', 'y', 'z'].map((name, s) => shard(name, views[2 * s]!, views[2 * s + 1]!));
          const kept = shards.map((s) => ({ name: s.name, replicas: s.replicas.map((r) => keepMoving(r as ReplicaView, s.name, three)) }));
          const whole = planMigration(shards, three, phase);
          expect(planMoves(kept, three, phase)).toEqual({ actions: whole.actions, unsettled: whole.unsettled });
          // Nothing of z is kept: none of its groups moves.
          expect(kept[2]!.replicas.every((r) => r.groups.size === 0)).toBe(true);
        },
      ),
    );
  });

  it('deletes the strays shard by shard as the whole plan does', () => {
    const shards = [
      shard('x', replica('x/0', [group('ymoved', '1', 1), group('xstays', '1', 1)])),
      shard('y', replica('y/0', [group('ymoved', '1', 1), group('xstray', '1', 1)])),
    ];
    const byShard = shards.flatMap((s) => planStrayDeletes(s, owners));
    expect(byShard.map((a) => JSON.stringify(a)).sort()).toEqual(
      planMigration(shards, owners, 'delete')
        .actions.map((a) => JSON.stringify(a))
        .sort(),
    );
    expect(byShard).toHaveLength(2);
  });

  it("places each group once per memo, and keeps one ring's owners for both when nothing changes", () => {
    let lookups = 0;
    const now = (c: string) => (lookups++, c.startsWith('{job="y') ? 'y' : 'x');
    const memo = memoizeOwnership({ now, before: now });
    for (let i = 0; i < 3; i++) expect([memo.now('{job="ya"}'), memo.before('{job="ya"}'), memo.now('{job="xa"}')]).toEqual(['y', 'y', 'x']);
    expect(lookups).toBe(2);
  });
});
