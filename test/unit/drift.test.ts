import { describe, expect, it } from 'vitest';
import { decideDrift, type DriftObservation, type PendingDrift } from '../../src/core/drift.js';

const LAG = 11_000;
const seen = (record: string | undefined, held: string[], opts: Partial<DriftObservation> = {}): DriftObservation => ({
  record,
  held,
  complete: true,
  readAt: 100_000,
  ...opts,
});

describe('decideDrift: when the index is made to say what the backends hold', () => {
  const rows: Array<[string, DriftObservation, PendingDrift | undefined, string]> = [
    ['a replica holds what the index records', seen('r1', ['r1']), undefined, 'agree'],
    ['one of two replicas holds it (the other is behind: the repair is the reconciler’s)', seen('r1', ['r0', 'r1']), undefined, 'agree'],
    ['neither side holds the group', seen(undefined, []), undefined, 'agree'],
    ['the backends hold a group the index lacks: added at once (stricter only)', seen(undefined, ['r1']), undefined, 'add'],
    ['no replica matches the record, first seen: wait', seen('r2', ['r1']), undefined, 'wait'],
    ['no replica holds the recorded group, first seen: wait', seen('r2', []), undefined, 'wait'],
    ['the recorded group is on no replica read, but one could not be read: nothing said', seen('r2', [], { complete: false }), undefined, 'agree'],
    ['seen again before a write in flight has surely ended: wait', seen('r2', ['r1'], { readAt: 100_000 }), { record: 'r2', since: 95_000 }, 'wait'],
    [
      'seen again by a read begun after every write in flight ended: replace',
      seen('r2', ['r1'], { readAt: 107_000 }),
      { record: 'r2', since: 95_000 },
      'replace',
    ],
    ['gone from every replica, confirmed: forget', seen('r2', [], { readAt: 107_000 }), { record: 'r2', since: 95_000 }, 'forget'],
    ['the record changed since it was first seen (a new push): wait afresh', seen('r3', ['r1'], { readAt: 200_000 }), { record: 'r2', since: 95_000 }, 'wait'],
  ];
  it.each(rows)('%s', (_name, observation, pending, expected) => {
    expect(decideDrift(observation, pending, 100_000, LAG).kind).toBe(expected);
  });

  it('keeps the first sighting while it waits, and starts anew on a new record', () => {
    const first = decideDrift(seen('r2', ['r1']), undefined, 100_000, LAG);
    expect(first).toEqual({ kind: 'wait', pending: { record: 'r2', since: 100_000 } });
    const again = decideDrift(seen('r2', ['r1'], { readAt: 105_000 }), { record: 'r2', since: 100_000 }, 105_000, LAG);
    expect(again).toEqual({ kind: 'wait', pending: { record: 'r2', since: 100_000 } });
    const changed = decideDrift(seen('r3', ['r1'], { readAt: 105_000 }), { record: 'r2', since: 100_000 }, 105_000, LAG);
    expect(changed).toEqual({ kind: 'wait', pending: { record: 'r3', since: 105_000 } });
  });
});
