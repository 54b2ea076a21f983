import { describe, expect, it } from 'vitest';
import { createConfirmations } from '../../src/reconcile/confirmations.js';

describe('confirmations', () => {
  it('acts on a difference the second time a pass sees it, not the first', () => {
    const memory = createConfirmations();
    const first = memory.startPass();
    expect(first.confirm(['a'])).toBe(false);
    first.commit();
    const second = memory.startPass();
    expect(second.confirm(['a'])).toBe(true);
    expect(second.confirm(['b'])).toBe(false);
  });

  it("acts on one family seen again while the group's other families keep changing", () => {
    const memory = createConfirmations();
    const first = memory.startPass();
    first.confirm(['stale-m1', 'm2-round-1']);
    first.commit();
    expect(memory.startPass().confirm(['stale-m1', 'm2-round-2'])).toBe(true);
  });

  it('acts at once on a difference without signatures', () => {
    expect(createConfirmations().startPass().confirm(undefined)).toBe(true);
  });

  it('confirms only against the pass just before: a difference gone for a pass starts over', () => {
    const memory = createConfirmations();
    const pass1 = memory.startPass();
    pass1.confirm(['a']);
    pass1.commit();
    memory.startPass().commit(); // pass 2 does not see it
    expect(memory.startPass().confirm(['a'])).toBe(false);
  });

  it('keeps nothing from a pass that is not committed (a dry run)', () => {
    const memory = createConfirmations();
    memory.startPass().confirm(['a']);
    expect(memory.startPass().confirm(['a'])).toBe(false);
  });

  it('forgets what earlier passes saw when told (the lease moved)', () => {
    const memory = createConfirmations();
    const first = memory.startPass();
    first.confirm(['a']);
    first.commit();
    memory.forget();
    expect(memory.startPass().confirm(['a'])).toBe(false);
  });

  it('remembers at most `max` differences and says when it dropped one', () => {
    const memory = createConfirmations(2);
    const first = memory.startPass();
    first.confirm(['a', 'b']);
    first.confirm(['a']);
    expect(first.complete).toBe(true);
    first.confirm(['c']);
    expect(first.complete).toBe(false);
    first.commit();
    const second = memory.startPass();
    expect([second.confirm(['a']), second.confirm(['b']), second.confirm(['c'])]).toEqual([true, true, false]);
  });
});
