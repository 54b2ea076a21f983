import { describe, expect, it } from 'vitest';
import type { ApiGroup } from '../../src/core/exposition.js';
import { toGroupCopy } from '../../src/core/repair.js';
import { signaturesOf } from '../../src/core/signatures.js';
import { summarizeGroup, withPushTime, type GroupSummary } from '../../src/core/summary.js';

function group(job: string, families: Record<string, string>, pushTime = 10): ApiGroup {
  const out: Record<string, unknown> = { labels: { job }, push_time_seconds: { type: 'GAUGE', metrics: [{ labels: { job }, value: String(pushTime) }] } };
  for (const [name, value] of Object.entries(families)) out[name] = { type: 'GAUGE', help: `${name} help`, metrics: [{ labels: { job }, value }] };
  return out as unknown as ApiGroup;
}

describe('summarizeGroup', () => {
  it('is equal exactly where the group copies are, whatever the push times', () => {
    const pairs: Array<[ApiGroup, ApiGroup]> = [
      [group('a', { m: '1', n: '2' }, 10), group('a', { m: '1', n: '2' }, 99)],
      [group('a', { m: '1', n: '2' }), group('a', { m: '1', n: '3' })],
      [group('a', { m: '1' }), group('a', { m: '1', n: '2' })],
    ];
    for (const [a, b] of pairs) {
      const same = toGroupCopy(a).content === toGroupCopy(b).content;
      expect(summarizeGroup(a).content === summarizeGroup(b).content).toBe(same);
    }
  });

  it('keeps what planning needs, and one digest per family that differs exactly where the families do', () => {
    const summary = summarizeGroup(group('a', { m: '1', n: '2' }, 42));
    expect([summary.canonical, summary.job, summary.pushTime, summary.group]).toEqual(['{job="a"}', 'a', 42, { labels: { job: 'a' } }]);
    const other = summarizeGroup(group('a', { m: '1', n: '3' }));
    expect([...summary.families.keys()]).toEqual(['m', 'n']);
    expect(summary.families.get('m')).toBe(other.families.get('m'));
    expect(summary.families.get('n')).not.toBe(other.families.get('n'));
    expect(summarizeGroup(group('a', {})).families.size).toBe(0);
  });

  it('stands for another push time with everything else kept', () => {
    const summary = summarizeGroup(group('a', { m: '1' }, 42));
    const moved = withPushTime(summary, 7);
    expect([moved.pushTime, moved.content, moved.canonical, [...moved.families]]).toEqual([7, summary.content, summary.canonical, [...summary.families]]);
  });
});

describe('signaturesOf', () => {
  const on = (held: Record<string, GroupSummary>) => (replica: string) => held[replica];
  const a = (families: Record<string, string>) => summarizeGroup(group('a', families));
  const copy = { kind: 'copy', canonical: '{job="a"}', from: 'x/0', to: 'y/0' } as const;

  it("names a stale family the same way while the group's other families change", () => {
    const first = signaturesOf(copy, on({ 'x/0': a({ m1: '1', m2: '5' }), 'y/0': a({ m1: '0', m2: '4' }) }))!;
    const second = signaturesOf(copy, on({ 'x/0': a({ m1: '1', m2: '6' }), 'y/0': a({ m1: '0', m2: '6' }) }))!;
    expect(first).toHaveLength(2);
    expect(second).toHaveLength(1);
    expect(first).toContain(second[0]);
  });

  it('has none for what is done at once: a repair to a replica lacking the group, expiry, a stray in the delete phase', () => {
    expect(signaturesOf({ ...copy, reason: 'missing' }, on({ 'x/0': a({ m: '1' }) }))).toBeUndefined();
    expect(signaturesOf({ kind: 'delete', canonical: '{job="a"}', on: 'x/0', reason: 'expired' }, on({ 'x/0': a({ m: '1' }) }))).toBeUndefined();
    expect(signaturesOf({ kind: 'delete', canonical: '{job="a"}', on: 'x/0', confirm: false }, on({ 'x/0': a({ m: '1' }) }))).toBeUndefined();
  });

  it('names a move to a new owner lacking the group by the content it lacks', () => {
    const lacking = (value: string) => signaturesOf(copy, on({ 'x/0': a({ m: value }) }));
    expect(lacking('1')).toEqual(lacking('1'));
    expect(lacking('1')).not.toEqual(lacking('2'));
  });

  it('names a delete to confirm by what the replica holds', () => {
    const del = { kind: 'delete', canonical: '{job="a"}', on: 'y/0', confirm: true } as const;
    expect(signaturesOf(del, on({ 'y/0': a({ m: '1' }) }))).not.toEqual(signaturesOf(del, on({ 'y/0': a({ m: '2' }) })));
    expect(signaturesOf({ kind: 'delete', canonical: '{job="a"}', on: 'y/0', reason: 'deleted-while-away' }, on({ 'y/0': a({ m: '1' }) }))).toHaveLength(1);
  });
});
