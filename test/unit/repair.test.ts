import { describe, expect, it } from 'vitest';
import { planRepairs, toGroupCopy, type ReplicaView } from '../../src/core/repair.js';
import type { ApiGroup } from '../../src/core/exposition.js';

const NOW = 1_800_000_000_000;

function group(job: string, value: string, pushTime: number): ApiGroup {
  return {
    labels: { job },
    m: { type: 'GAUGE', metrics: [{ labels: { job, instance: '' }, value }] },
    push_time_seconds: { type: 'GAUGE', metrics: [{ labels: { job, instance: '' }, value: String(pushTime) }] },
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
});
