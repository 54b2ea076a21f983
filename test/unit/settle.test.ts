import { describe, expect, it } from 'vitest';
import { decideChangeStep, hasRacedCopy, type Acted, type ChangePass, type Completeness, type SettleFacts } from '../../src/core/settle.js';

const COMPLETE: Completeness = { everyReplicaRead: true, ringUnchanged: true, everyDifferenceRemembered: true, oldShardsKnown: true };
const quietPass = (id = 'c1', everyoneDual = true, acted: Acted[] = []): ChangePass => ({ id, everyoneDual, acted });
const copied: Acted = { on: 'y/0', canonical: '{job="a"}', copied: new Map([['m', 'd1']]) };

/** Two quiet passes in a row of one change, everyone dual throughout: the one case that settles. */
const QUIET: SettleFacts = { phase: 'copy', pass: quietPass(), previous: quietPass(), complete: COMPLETE, misplaced: 5, stillRaced: false };
const incomplete = (field: keyof Completeness): Completeness => ({ ...COMPLETE, [field]: false });

describe('decideChangeStep: settling', () => {
  it('settles after two quiet passes in a row of the same change, everyone dual in both', () => {
    expect(decideChangeStep(QUIET).step).toBe('settle');
  });

  // Each row drops one clause of the rule: it must wait.
  const rows: Array<[clause: string, facts: SettleFacts]> = [
    ['a first pass (or the lease just moved here: the previous pass is forgotten)', { ...QUIET, previous: undefined }],
    ['the previous pass belonged to another change', { ...QUIET, previous: quietPass('c0') }],
    ['some front door did not write both owners during the previous pass', { ...QUIET, previous: quietPass('c1', false) }],
    ['some front door does not write both owners during this pass', { ...QUIET, pass: quietPass('c1', false) }],
    ['this pass confirmed a move', { ...QUIET, pass: quietPass('c1', true, [copied]) }],
    ['this pass could not read every replica', { ...QUIET, complete: incomplete('everyReplicaRead') }],
    ['the ring changed during this pass', { ...QUIET, complete: incomplete('ringUnchanged') }],
    ['this pass could not remember every difference it saw', { ...QUIET, complete: incomplete('everyDifferenceRemembered') }],
    ['a shard of the old ring is not configured here (never read)', { ...QUIET, complete: incomplete('oldShardsKnown') }],
    ['a copy of the previous pass may have lost a race', { ...QUIET, stillRaced: true }],
    ['the change is in the hold phase (settled already)', { ...QUIET, phase: 'hold' }],
    ['the change is in the delete phase', { ...QUIET, phase: 'delete' }],
    ['this reconciler carries no change out', { ...QUIET, pass: undefined }],
  ];
  it.each(rows)('waits when %s', (_clause, facts) => {
    expect(decideChangeStep(facts).step).toBe('wait');
  });

  it('looks back only on passes of the copy phase: a pass in another phase breaks the chain', () => {
    expect(decideChangeStep(QUIET).remember).toEqual(QUIET.pass);
    expect(decideChangeStep({ ...QUIET, pass: quietPass('c1', true, [copied]) }).remember?.acted).toEqual([copied]);
    for (const phase of ['hold', 'delete', 'none'] as const) expect(decideChangeStep({ ...QUIET, phase }).remember).toBeUndefined();
  });
});

describe('decideChangeStep: closing', () => {
  const DONE: SettleFacts = { phase: 'delete', pass: quietPass(), previous: undefined, complete: COMPLETE, misplaced: 0, stillRaced: false };

  it('closes the change when a complete pass in the delete phase finds nothing misplaced', () => {
    expect(decideChangeStep(DONE).step).toBe('close');
  });

  const rows: Array<[clause: string, facts: SettleFacts]> = [
    ['a stray copy is left', { ...DONE, misplaced: 1 }],
    ['the change is still in the copy phase', { ...DONE, phase: 'copy' }],
    ['the change is in the hold phase', { ...DONE, phase: 'hold' }],
    ['this reconciler carries no change out', { ...DONE, pass: undefined }],
    ...(Object.keys(COMPLETE) as Array<keyof Completeness>).map((field): [string, SettleFacts] => [
      `the pass is incomplete (${field})`,
      { ...DONE, complete: incomplete(field) },
    ]),
  ];
  it.each(rows)('does not close when %s', (_clause, facts) => {
    expect(decideChangeStep(facts).step).not.toBe('close');
  });
});

describe('hasRacedCopy', () => {
  const A = '{job="a"}';
  const fams = (entries: Record<string, string>) => new Map(Object.entries(entries));
  const run = (acted: Acted[], opts: { unsettled?: string[]; target?: Record<string, string>; authority?: Array<Record<string, string>> }) =>
    hasRacedCopy(
      acted,
      new Set(opts.unsettled ?? [A]),
      () => (opts.target === undefined ? undefined : fams(opts.target)),
      () => (opts.authority ?? []).map(fams),
    );
  const copy = (families: Record<string, string>): Acted => ({ on: 'y/0', canonical: A, copied: fams(families) });

  const rows: Array<[what: string, raced: boolean, acted: Acted[], opts: Parameters<typeof run>[1]]> = [
    ['nothing was moved', false, [], { target: { m: '1' }, authority: [{ m: '2' }] }],
    ['a moved group is settled now', false, [copy({ m: '1' })], { unsettled: [], target: { m: '1' }, authority: [{ m: '2' }] }],
    [
      'a family is still as copied on the target and the old owner holds something else',
      true,
      [copy({ m: '1' })],
      { target: { m: '1' }, authority: [{ m: '2' }] },
    ],
    ['one old-owner replica holds something else for it', true, [copy({ m: '1' })], { target: { m: '1' }, authority: [{ m: '1' }, { m: '2' }] }],
    ['the old owner lost the family the copy carried', true, [copy({ m: '1', n: '1' })], { target: { m: '1', n: '1' }, authority: [{ m: '1' }] }],
    ['the family changed on the target since (a newer push)', false, [copy({ m: '1' })], { target: { m: '3' }, authority: [{ m: '2' }] }],
    ['the old owner still holds what was copied', false, [copy({ m: '1' })], { target: { m: '1', k: '1' }, authority: [{ m: '1', k: '2' }] }],
    ['a group deleted from the new owner still differs', true, [{ on: 'y/0', canonical: A }], { target: { m: '1' }, authority: [] }],
  ];
  it.each(rows)('when %s: %s', (_what, raced, acted, opts) => {
    expect(run(acted, opts)).toBe(raced);
  });
});
