import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRepairs, toGroupCopy, type GroupCopy, type RepairAction, type ReplicaView } from '../../src/core/repair.js';
import type { ApiGroup } from '../../src/core/exposition.js';

const NOW = 1_800_000_000_000;

function group(job: string, value: string, pushTime: number): ApiGroup {
  return {
    labels: { job },
    m: { type: 'GAUGE', metrics: [{ labels: { job, instance: '' }, value }] },
    push_time_seconds: { type: 'GAUGE', metrics: [{ labels: { job, instance: '' }, value: String(pushTime) }] },
  } as unknown as ApiGroup;
}

/** A group as a Pushgateway shows it after a push it refused at `failureTime`: `last_push_successful` is its verdict. */
function failed(job: string, value: string, pushTime: number, failureTime: number): ApiGroup {
  return {
    ...group(job, value, pushTime),
    last_push_successful: failureTime <= pushTime,
    push_failure_time_seconds: { type: 'GAUGE', metrics: [{ labels: { job, instance: '' }, value: String(failureTime) }] },
  } as unknown as ApiGroup;
}

function replica(id: string, groups: ApiGroup[], suspectSince?: number): ReplicaView {
  return { id, groups: new Map(groups.map((g) => [toGroupCopy(g).canonical, toGroupCopy(g)])), suspectSince };
}

const plan = (replicas: ReplicaView[], maxAge?: number) =>
  planRepairs(replicas, { now: NOW, maxAgeOf: () => maxAge }).map((a) =>
    a.kind === 'copy' ? `copy ${a.canonical} ${a.from}->${a.to} (${a.reason})` : `delete ${a.canonical} on ${a.on} (${a.reason})`,
  );

const T = NOW / 1000;

describe('planRepairs', () => {
  it('leaves groups with equal content alone, whatever their push times', () => {
    expect(plan([replica('0', [group('a', '1', T - 100)]), replica('1', [group('a', '1', T - 5)], NOW - 50_000)])).toEqual([]);
  });

  it('refills a suspect (restarted, empty) replica from its trusted twin', () => {
    expect(plan([replica('0', [group('a', '1', T - 100), group('b', '2', T - 90)]), replica('1', [], NOW - 10_000)])).toEqual([
      'copy {job="a"} 0->1 (missing)',
      'copy {job="b"} 0->1 (missing)',
    ]);
  });

  it("takes the trusted replica's content over a suspect's, even when the suspect's push time is newer", () => {
    // The suspect's newer push time is a copy's: a push raced the copy. The trusted value wins.
    expect(plan([replica('0', [group('a', 'fresh', T - 10)]), replica('1', [group('a', 'stale', T - 1)], NOW - 60_000)])).toEqual([
      'copy {job="a"} 0->1 (differs)',
    ]);
  });

  it('deletes from a suspect every group no trusted replica holds, even one with a newer push time', () => {
    // A frozen Pushgateway applies the pushes buffered in its sockets when it wakes, after their
    // DELETE reached its twin: the zombie has the newest push time of all.
    expect(plan([replica('0', []), replica('1', [group('gone', '1', T - 100), group('zombie', '1', T - 1)], NOW - 50_000)])).toEqual([
      'delete {job="gone"} on 1 (deleted-while-away)',
      'delete {job="zombie"} on 1 (deleted-while-away)',
    ]);
  });

  it('with no trusted replica, spreads the newest copy and deletes nothing', () => {
    expect(plan([replica('0', [group('a', 'old', T - 100)], NOW - 1), replica('1', [group('a', 'new', T - 10), group('b', '1', T - 5)], NOW - 1)])).toEqual([
      'copy {job="a"} 1->0 (differs)',
      'copy {job="b"} 1->0 (missing)',
    ]);
  });

  it('repairs trusted replicas that disagree (nothing known yet) from the newest', () => {
    expect(plan([replica('0', [group('a', '1', T - 100)]), replica('1', [])])).toEqual(['copy {job="a"} 0->1 (missing)']);
  });

  it('expires groups older than their job allows, on every replica', () => {
    expect(plan([replica('0', [group('old', '1', T - 7200), group('young', '1', T - 60)]), replica('1', [group('old', '1', T - 7200)])], 3600)).toEqual([
      'delete {job="old"} on 0 (expired)',
      'delete {job="old"} on 1 (expired)',
      'copy {job="young"} 0->1 (missing)',
    ]);
  });

  it('copies the verdict on the last push: a copy of a group whose last push failed differs from one whose last push succeeded', () => {
    // Replica 1 was refilled by a copy that lost the refusal (equal families, a fresh push time).
    expect(plan([replica('0', [failed('a', '1', T - 100, T - 50)]), replica('1', [failed('a', '1', T - 10, 0)], NOW - 20_000)])).toEqual([
      'copy {job="a"} 0->1 (differs)',
    ]);
    // And the other way round: the original's last push succeeded after an earlier refusal.
    expect(plan([replica('0', [failed('a', '1', T - 50, T - 100)]), replica('1', [failed('a', '1', T - 50, T - 10)], NOW - 20_000)])).toEqual([
      'copy {job="a"} 0->1 (differs)',
    ]);
  });

  it('leaves a failed copy of a failed group alone, whatever its times: repaired, nothing left to do', () => {
    // The copy (push time and refusal both the copy's) agrees with the original: no loop.
    expect(plan([replica('0', [failed('a', '1', T - 100, T - 50)]), replica('1', [failed('a', '1', T - 10, T - 9)], NOW - 20_000)])).toEqual([]);
    // A failure older than the last success is not a failed last push: a copy without it agrees.
    expect(plan([replica('0', [failed('a', '1', T - 50, T - 100)]), replica('1', [failed('a', '1', T - 10, 0)], NOW - 20_000)])).toEqual([]);
  });

  it('between trusted replicas, copies from the one with the newest event, a refusal included', () => {
    // Both stored the push at T-100 (stamped microseconds apart); replica 1 missed the refusal.
    expect(plan([replica('0', [failed('a', '1', T - 100, T - 50)]), replica('1', [failed('a', '1', T - 99.999, 0)])])).toEqual([
      'copy {job="a"} 0->1 (differs)',
    ]);
    // Both saw the refusal; replica 0 missed the successful push after it.
    expect(plan([replica('0', [failed('a', '1', T - 100, T - 50)]), replica('1', [failed('a', '2', T - 10, T - 50)])])).toEqual([
      'copy {job="a"} 1->0 (differs)',
    ]);
  });

  it('refills a restarted replica with a group that only a refused push created', () => {
    // The Pushgateway creates it with push_time_seconds 0 and no families.
    const { m: _families, ...refusedOnly } = failed('a', '1', 0, T - 5) as unknown as Record<string, unknown>;
    const copy = toGroupCopy(refusedOnly as unknown as ApiGroup);
    expect([copy.pushTime, copy.failureTime, copy.families.size]).toEqual([0, T - 5, 1]);
    expect(plan([replica('0', [refusedOnly as unknown as ApiGroup]), replica('1', [], NOW - 1)])).toEqual(['copy {job="a"} 0->1 (missing)']);
  });

  it('converges: once the plan is carried out, the next plan has nothing to do', () => {
    // Replicas hold some of three groups, each in one of a few states (values, verdicts, times),
    // trusted or not. A copy makes the target hold what the source holds (writeCopy: the same
    // families and verdict; its times stand for the source's, as the reconciler records them).
    const state = fc.record({
      value: fc.constantFrom('1', '2'),
      pushTime: fc.integer({ min: 1, max: 1_000 }),
      failureTime: fc.constantFrom(0, 500, 1_500),
    });
    const replicaArb = fc.record({
      groups: fc.dictionary(fc.constantFrom('a', 'b', 'c'), state, { maxKeys: 3 }),
      suspect: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(replicaArb, { minLength: 1, maxLength: 3 }), (specs) => {
        const views = specs.map((spec, i) =>
          replica(
            String(i),
            Object.entries(spec.groups).map(([job, g]) => failed(job, g.value, T - 2_000 + g.pushTime, g.failureTime === 0 ? 0 : T - 2_000 + g.failureTime)),
            spec.suspect ? NOW - 1 : undefined,
          ),
        );
        const after = carryOut(views, planRepairs(views, { now: NOW, maxAgeOf: () => undefined }));
        expect(planRepairs(after, { now: NOW, maxAgeOf: () => undefined })).toEqual([]);
      }),
    );
  });
});

/** What the replicas hold once `actions` are done; targets of copies become suspect, as the reconciler marks them. */
function carryOut(views: readonly ReplicaView[], actions: readonly RepairAction[]): ReplicaView[] {
  const groups = new Map(views.map((v) => [v.id, new Map<string, GroupCopy>(v.groups)]));
  const suspect = new Map(views.map((v) => [v.id, v.suspectSince]));
  for (const a of actions) {
    if (a.kind === 'delete') groups.get(a.on)!.delete(a.canonical);
    else {
      groups.get(a.to)!.set(a.canonical, views.find((v) => v.id === a.from)!.groups.get(a.canonical)!);
      suspect.set(a.to, NOW);
    }
  }
  return views.map((v) => ({ id: v.id, groups: groups.get(v.id)!, suspectSince: suspect.get(v.id) }));
}
