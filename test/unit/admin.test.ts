import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AdminPlan, MAX_LISTED, answerAfterDeleting, answerBeforeDeleting, parseDryRun, parseJobsPath } from '../../src/core/admin.js';
import { makeGroupingKey, type GroupingKey } from '../../src/core/grouping-key.js';

const keyOf = (labels: Record<string, string>): GroupingKey => makeGroupingKey(new Map(Object.entries(labels)));

describe('the job glob of DELETE /api/v1/admin/jobs/{glob}', () => {
  it.each([
    ['/api/v1/admin/jobs/batch-*', 'batch-*'],
    ['/api/v1/admin/jobs/batch-%2A?dry_run=true', 'batch-*'],
    ['/api/v1/admin/jobs/team%2Fx', 'team/x'],
    ['/api/v1/admin/jobs/team/x', 'team/x'],
    ['/api/v1/admin/jobs/%E2%9C%93', '✓'],
    ['/api/v1/admin/jobs/*', '*'],
  ])('%s -> %s', (url, glob) => {
    expect(parseJobsPath(url)).toEqual({ ok: true, glob });
  });

  it.each([
    ['/api/v1/admin/jobs/', 'empty'],
    ['/api/v1/admin/jobs/?dry_run=true', 'empty'],
    ['/api/v1/admin/jobs/%E0%A4%A', 'percent-encoding'],
    ['/api/v1/admin/jobs/%ED%A0%80', 'percent-encoding'],
    ['/api/v1/admin/wipe', 'does not start'],
  ])('%s is refused (%s)', (url, problem) => {
    const parsed = parseJobsPath(url);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toContain(problem);
  });
});

describe('dry_run', () => {
  it.each([
    ['/api/v1/admin/wipe', false],
    ['/api/v1/admin/wipe?dry_run=true', true],
    ['/api/v1/admin/wipe?dry_run=1', true],
    ['/api/v1/admin/wipe?dry_run=false', false],
    ['/api/v1/admin/wipe?dry_run=0', false],
  ])('%s -> %s', (url, dry) => {
    expect(parseDryRun(url)).toEqual({ ok: true, dryRun: dry });
  });

  it.each(['?dry_run', '?dry_run=True', '?dry_run=yes', '?dry-run=true', '?dryRun=true', '?x=1&dry_run=true', '?dry_run=true&dry_run=false'])(
    'refuses %s rather than guess: a mistyped dry run must not delete',
    (query) => {
      expect(parseDryRun(`/api/v1/admin/wipe${query}`)).toMatchObject({ ok: false, problem: expect.any(String) });
    },
  );
});

describe('the plan of a call', () => {
  it('takes the groups of the glob once, with every shard they were read from', () => {
    const plan = new AdminPlan('batch-*');
    plan.add('s0', keyOf({ job: 'batch-1' }));
    plan.add('s0', keyOf({ job: 'batch-1' }));
    plan.add('s1', keyOf({ job: 'batch-1' }));
    plan.add('s1', keyOf({ job: 'other' }));
    plan.add('s1', keyOf({ job: 'batch-2', instance: 'a' }));
    expect([...plan.groups.values()].map((g) => [g.key.canonical, [...g.shards]])).toEqual([
      ['{job="batch-1"}', ['s0', 's1']],
      ['{instance="a",job="batch-2"}', ['s1']],
    ]);
    expect(plan.more).toBe(false);
  });

  it('stops at its bound and says more remain', () => {
    const plan = new AdminPlan('*', 2);
    for (const job of ['a', 'b', 'c', 'a']) plan.add('s0', keyOf({ job }));
    expect(plan.groups.size).toBe(2);
    expect(plan.more).toBe(true);
    const answer = answerAfterDeleting('wipe', plan, []);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ complete: false, more: true, deleted: 2 });
  });

  it('names a shard none of whose replicas was read, and only the replicas otherwise', () => {
    const plan = new AdminPlan('*');
    plan.shardRead('s0', 2, ['s0/1']);
    plan.shardRead('s1', 2, ['s1/0', 's1/1']);
    expect(plan.unreadShards).toEqual(['s1']);
    expect(plan.unreadReplicas).toEqual(['s0/1']);
  });

  it('is the union of what the replicas hold, in any order of reading (property)', () => {
    const read = fc.array(fc.tuple(fc.constantFrom('s0', 's1', 's2'), fc.constantFrom('a', 'b', 'batch-1', 'batch-2'), fc.constantFrom('', 'x')));
    fc.assert(
      fc.property(read, (reads) => {
        const plan = new AdminPlan('batch-*');
        for (const [shard, job, instance] of reads) plan.add(shard, keyOf(instance === '' ? { job } : { job, instance }));
        const expected = new Set(
          reads.filter(([, job]) => job.startsWith('batch-')).map(([, job, instance]) => keyOf(instance === '' ? { job } : { job, instance }).canonical),
        );
        expect(new Set(plan.groups.keys())).toEqual(expected);
        for (const [canonical, group] of plan.groups) {
          const shards = new Set(
            reads.filter(([, job, instance]) => keyOf(instance === '' ? { job } : { job, instance }).canonical === canonical).map(([s]) => s),
          );
          expect(group.shards).toEqual(shards);
        }
      }),
    );
  });
});

describe('the answer', () => {
  const planOf = (jobs: string[], unreadShards: string[] = []): AdminPlan => {
    const plan = new AdminPlan('*');
    for (const job of jobs) plan.add('s0', keyOf({ job }));
    for (const s of unreadShards) plan.shardRead(s, 2, [`${s}/0`, `${s}/1`]);
    return plan;
  };

  // [what, call, dry run, unread shards, failures, status, outcome, code]
  type Row = [string, 'wipe' | 'jobs', boolean, string[], number, number | undefined, string | undefined, string | undefined];
  const rows: Row[] = [
    ['a real run goes ahead', 'jobs', false, [], 0, undefined, undefined, undefined],
    ['a dry run answers 200 with the list', 'jobs', true, [], 0, 200, 'dry_run', undefined],
    ['a dry run over an unread shard is 503', 'wipe', true, ['s1'], 0, 503, 'dry_run', 'PUSHRING_ADMIN_SHARD_UNREADABLE'],
    ['a real run over an unread shard is refused whole', 'wipe', false, ['s1'], 0, 503, 'refused', 'PUSHRING_ADMIN_SHARD_UNREADABLE'],
  ];
  it.each(rows)('before deleting: %s', (_what, call, dryRun, unread, _failures, status, outcome, code) => {
    const answer = answerBeforeDeleting(call, planOf(['a', 'b'], unread), dryRun);
    if (status === undefined) return expect(answer).toBeUndefined();
    expect(answer).toMatchObject({ status, outcome, code });
    expect(answer!.body.deleted).toBe(0);
    expect(answer!.body.groups.length).toBe(dryRun ? 2 : 0);
    expect(answer!.body.unreadShards).toEqual(unread);
  });

  it.each([
    ['wipe', 0, 202, 'deleted', undefined],
    ['jobs', 0, 200, 'deleted', undefined],
    ['wipe', 1, 503, 'partial', 'PUSHRING_ADMIN_INCOMPLETE'],
    ['jobs', 2, 503, 'partial', 'PUSHRING_ADMIN_INCOMPLETE'],
  ] as const)('after deleting: %s with %i failure(s) -> %i', (call, failed, status, outcome, code) => {
    const plan = planOf(['a', 'b', 'c']);
    const failures = [...plan.groups.values()].slice(0, failed).map((g) => ({ key: g.key, reason: 'PUSHRING_SHARD_UNAVAILABLE on shard s0' }));
    const answer = answerAfterDeleting(call, plan, failures);
    expect(answer).toMatchObject({ status, outcome, code });
    expect(answer.body).toMatchObject({ matched: 3, deleted: 3 - failed, failed, complete: failed === 0 });
    expect(answer.body.groups.length + answer.body.failures.length).toBe(3);
  });

  it('lists at most MAX_LISTED groups, counting them all', () => {
    const plan = planOf(Array.from({ length: MAX_LISTED + 5 }, (_, i) => `j${i}`));
    const answer = answerBeforeDeleting('wipe', plan, true)!;
    expect(answer.body.groups.length).toBe(MAX_LISTED);
    expect(answer.body).toMatchObject({ matched: MAX_LISTED + 5, groupsTruncated: true });
  });
});
