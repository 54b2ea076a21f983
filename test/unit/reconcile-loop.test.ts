/**
 * When the reconcile loop runs its passes, with a fake reconciler and lease on fake timers: the
 * schedule is the unit here; real passes are in test/behaviour.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Lease } from '../../src/reconcile/lease.js';
import { startReconcileLoop, type ReconcileLoop } from '../../src/reconcile/loop.js';
import type { PassReport } from '../../src/reconcile/reconciler.js';

const HOUR = 3_600_000;

function report(deferred = 0): PassReport {
  return {
    shards: 1,
    groupsSeen: 0,
    copied: 0,
    deletedAway: 0,
    expired: 0,
    failed: 0,
    unreachable: [],
    outOfSync: 0,
    durationMs: 0,
    actions: [],
    phase: 'none',
    misplaced: 0,
    unsettled: 0,
    moved: 0,
    straysDeleted: 0,
    deferred,
    migration: [],
  };
}

/** A lease held by someone else until `free()`; counts acquires. */
function fakeLease(heldElsewhere = false): Lease & { acquires: number; free(): void; releases: number } {
  let busy = heldElsewhere;
  let mine = false;
  const lease = {
    acquires: 0,
    releases: 0,
    taken: false,
    async acquire() {
      lease.acquires++;
      if (busy) return false;
      lease.taken = !mine;
      mine = true;
      return true;
    },
    async release() {
      lease.releases++;
      mine = false;
    },
    free() {
      busy = false;
    },
  };
  return lease;
}

let loop: ReconcileLoop | undefined;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  const stopping = loop?.stop();
  await vi.runOnlyPendingTimersAsync();
  await stopping;
  loop = undefined;
  vi.useRealTimers();
});

function start(opts: { pending?: () => boolean; deferred?: number[]; lease?: Lease; renewMs?: number; elsewhere?: boolean[] } = {}) {
  const passes: number[] = [];
  const deferred = [...(opts.deferred ?? [])];
  const elsewhere = [...(opts.elsewhere ?? [])];
  let forgotten = 0;
  loop = startReconcileLoop({
    reconciler: {
      pass: async () => {
        passes.push(Date.now());
        return { ...report(deferred.shift() ?? 0), ...(elsewhere.shift() === true ? { changeElsewhere: true } : {}) };
      },
      forget: () => void forgotten++,
    },
    lease: opts.lease ?? fakeLease(),
    intervalMs: HOUR,
    ...(opts.renewMs === undefined ? {} : { leaseRenewMs: opts.renewMs }),
    repairsPending: opts.pending ?? (() => false),
    onPass: () => {},
    log: { info: () => {}, debug: () => {}, error: () => {} },
  });
  return { passes, forgotten: () => forgotten, startedAt: Date.now() };
}

describe('the reconcile loop', () => {
  it('hands a shared lease over after a pass that found a ring change to another ring, and asks again two intervals later', async () => {
    const lease = fakeLease();
    const { passes, startedAt } = start({ lease, renewMs: 10_000, elsewhere: [true, false] });
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(passes).toEqual([startedAt + HOUR]);
    expect(lease.releases).toBe(1);
    const asked = lease.acquires;
    // Standing back: neither the renewal nor the next interval asks for it.
    await vi.advanceTimersByTimeAsync(2 * HOUR - 1);
    expect(lease.acquires).toBe(asked);
    expect(passes).toHaveLength(1);
    // No front door on that ring took it: this one takes it back and goes on with its passes.
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toEqual([startedAt + HOUR, startedAt + 3 * HOUR]);
    expect(lease.releases).toBe(1);
  });

  it('keeps a lease nobody shares (no Redis) whatever the pass found', async () => {
    const lease = fakeLease();
    const { passes, startedAt } = start({ lease, elsewhere: [true, true] });
    await vi.advanceTimersByTimeAsync(2 * HOUR);
    expect(passes).toEqual([startedAt + HOUR, startedAt + 2 * HOUR]);
    expect(lease.releases).toBe(0);
  });

  it('with nothing pending, runs its first pass an interval after it starts', async () => {
    const { passes, startedAt } = start();
    await vi.advanceTimersByTimeAsync(HOUR - 1);
    expect(passes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toEqual([startedAt + HOUR]);
  });

  it('with a replica suspect at start, runs a pass soon', async () => {
    const { passes, startedAt } = start({ pending: () => true });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toHaveLength(1);
    expect(passes[0]! - startedAt).toBeLessThan(1_000);
  });

  it('takes one second look soon at a difference seen once while a replica is suspect, then waits the interval', async () => {
    const { passes } = start({ pending: () => true, deferred: [3, 2, 0] });
    await vi.advanceTimersByTimeAsync(10_000);
    // The first pass defers 3, its second look (deferring 2 more) is not looked at again soon.
    expect(passes).toHaveLength(2);
    expect(passes[1]! - passes[0]!).toBeLessThanOrEqual(1_000);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(passes).toHaveLength(3);
  });

  it('does not look again soon when no replica is suspect (a push in flight between two reads)', async () => {
    // Suspect at start (a pass soon), in sync after it.
    let asked = 0;
    const { passes } = start({ pending: () => asked++ === 0, deferred: [1] });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(passes).toHaveLength(1);
  });

  it('asks again soon for a lease held elsewhere while a replica is suspect, and forgets what it saw once it takes it', async () => {
    const lease = fakeLease(true);
    const { passes, forgotten } = start({ pending: () => true, lease });
    await vi.advanceTimersByTimeAsync(12_000);
    expect(passes).toEqual([]);
    expect(lease.acquires).toBeGreaterThanOrEqual(3);
    lease.free();
    await vi.advanceTimersByTimeAsync(6_000);
    expect(passes).toHaveLength(1);
    expect(forgotten()).toBe(1);
  });

  it('waits the interval for a lease held elsewhere when nothing is pending', async () => {
    const lease = fakeLease(true);
    start({ lease });
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(lease.acquires).toBe(1);
    await vi.advanceTimersByTimeAsync(HOUR / 2);
    expect(lease.acquires).toBe(1);
  });

  it('renews a lease it holds between passes, and releases it when stopped', async () => {
    const lease = fakeLease();
    const { passes } = start({ pending: () => true, lease, renewMs: 10_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toHaveLength(1);
    const afterPass = lease.acquires;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(lease.acquires - afterPass).toBe(6);
    const stopping = loop!.stop();
    await vi.runOnlyPendingTimersAsync();
    await stopping;
    loop = undefined;
    expect(lease.releases).toBe(1);
  });

  it('brings the next pass forward when kicked, also when kicked during a pass', async () => {
    let finishPass: (() => void) | undefined;
    const passes: number[] = [];
    loop = startReconcileLoop({
      reconciler: {
        pass: async () => {
          passes.push(Date.now());
          if (passes.length === 1) await new Promise<void>((resolve) => (finishPass = resolve));
          return report();
        },
        forget: () => {},
      },
      lease: fakeLease(),
      intervalMs: HOUR,
      repairsPending: () => false,
      onPass: () => {},
      log: { info: () => {}, debug: () => {}, error: () => {} },
    });
    loop.kick();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toHaveLength(1);
    loop.kick(); // during the pass
    finishPass!();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(passes).toHaveLength(2);
  });
});
