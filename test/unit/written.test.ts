import { describe, expect, it } from 'vitest';
import { createWritten } from '../../src/reconcile/written.js';

const G = '{job="a"}';

describe('written', () => {
  it('gives a copy the push time it stands for while the replica holds what was written', () => {
    const written = createWritten();
    written.remember('s0/1', G, 'digest', 100);
    // The first read sees the copy stamped 130 by the Pushgateway; later reads see the same.
    expect(written.pushTimeOf('s0/1', G, 'digest', 130)).toBe(100);
    expect(written.pushTimeOf('s0/1', G, 'digest', 130)).toBe(100);
  });

  it('forgets a copy pushed again since, even with the same content (another stamp)', () => {
    const written = createWritten();
    written.remember('s0/1', G, 'digest', 100);
    expect(written.pushTimeOf('s0/1', G, 'digest', 130)).toBe(100);
    expect(written.pushTimeOf('s0/1', G, 'digest', 140)).toBe(140);
    expect(written.pushTimeOf('s0/1', G, 'digest', 130)).toBe(130);
    expect(written.size).toBe(0);
  });

  it('forgets a copy whose content changed', () => {
    const written = createWritten();
    written.remember('s0/1', G, 'digest', 100);
    expect(written.pushTimeOf('s0/1', G, 'other', 130)).toBe(130);
    expect(written.pushTimeOf('s0/1', G, 'digest', 130)).toBe(130);
  });

  it("takes a replay's stamp as read back: a later read with another stamp is a newer push", () => {
    const written = createWritten();
    written.remember('s0/0', G, 'digest', 100, 120);
    expect(written.pushTimeOf('s0/0', G, 'digest', 125)).toBe(125);
  });

  it('tells replicas and groups apart', () => {
    const written = createWritten();
    written.remember('s0/1', G, 'digest', 100);
    expect(written.pushTimeOf('s0/0', G, 'digest', 130)).toBe(130);
    expect(written.pushTimeOf('s0/1', '{job="b"}', 'digest', 130)).toBe(130);
    expect(written.pushTimeOf('s0/1', G, 'digest', 130)).toBe(100);
  });

  it('keeps at most `max` writes, forgetting the oldest first; writing again makes one the newest', () => {
    const written = createWritten(2);
    written.remember('r', 'a', 'd', 1);
    written.remember('r', 'b', 'd', 2);
    written.remember('r', 'a', 'd', 3);
    written.remember('r', 'c', 'd', 4);
    expect(written.size).toBe(2);
    expect([written.pushTimeOf('r', 'a', 'd', 9), written.pushTimeOf('r', 'b', 'd', 9), written.pushTimeOf('r', 'c', 'd', 9)]).toEqual([3, 9, 4]);
  });
});
