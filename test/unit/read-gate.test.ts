import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createReadGate } from '../../src/read/gate.js';

describe('createReadGate', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives places up to its max at once', async () => {
    const gate = createReadGate(2, 1_000, 2);
    expect(await gate.enter()).toBe(true);
    expect(await gate.enter()).toBe(true);
  });

  it('hands a place given back to the first read waiting, in order', async () => {
    const gate = createReadGate(1, 1_000, 2);
    await gate.enter();
    const order: string[] = [];
    const a = gate.enter().then((placed) => order.push(`a:${placed}`));
    const b = gate.enter().then((placed) => order.push(`b:${placed}`));
    gate.leave();
    await a;
    expect(order).toEqual(['a:true']);
    gate.leave();
    await b;
    expect(order).toEqual(['a:true', 'b:true']);
  });

  it('refuses a read that waited its time, and one that finds too many waiting, at once', async () => {
    const gate = createReadGate(1, 1_000, 1);
    await gate.enter();
    const waited = gate.enter();
    expect(await gate.enter(), 'a second read waiting is one too many').toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(await waited).toBe(false);
    // The place is still the first read's; once given back, it is free.
    gate.leave();
    expect(await gate.enter()).toBe(true);
  });

  it('never gives more places than its max, whatever the order of enters and leaves', async () => {
    const gate = createReadGate(3, 10_000, 100);
    let held = 0;
    let most = 0;
    const reads = Array.from({ length: 40 }, async (_x, i) => {
      if (!(await gate.enter())) return;
      held++;
      most = Math.max(most, held);
      await Promise.resolve(i);
      held--;
      gate.leave();
    });
    await Promise.all(reads);
    expect(most).toBe(3);
    expect(await gate.enter()).toBe(true);
  });

  it('refuses a leave without a place', () => {
    expect(() => createReadGate(1).leave()).toThrow('without a place');
  });
});
