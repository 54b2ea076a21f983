/**
 * Hinted handoff (src/reconcile/handoff.ts) when a replay fails half-way: the replica it replays
 * to refuses connections (a free loopback port nobody listens on), and the hints left over must
 * stay ahead of the ones front doors queued meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { Backend } from '../../src/backends/client.js';
import type { ReplicaView } from '../../src/core/repair.js';
import { handOffHints } from '../../src/reconcile/handoff.js';
import { createMemoryHintStore, type Hint, type HintStore } from '../../src/reconcile/hints.js';
import { createWritten } from '../../src/reconcile/written.js';
import { freePort } from '../helpers/processes.js';

const hint = (group: string, body: string, at: number): Hint => ({
  group,
  method: 'PUT',
  path: `/metrics/job/${group}`,
  headers: [],
  body: Buffer.from(`${body}\n`),
  at,
});
const noEvents = { queued: () => undefined, dropped: () => undefined };

describe('hinted handoff', () => {
  it("keeps a failed replay's leftovers ahead of hints queued meanwhile, so an old PUT never replaces a newer one", async () => {
    const port = await freePort();
    const backend = new Backend({
      shard: 'a',
      replica: '0',
      url: `http://127.0.0.1:${port}`,
      connections: 1,
      connectTimeoutMs: 500,
      timeoutMs: 1_000,
      probeTimeoutMs: 500,
      upAfterProbes: 1,
    });
    const store = createMemoryHintStore({ maxPerReplica: 100, maxBytes: 1 << 20 }, noEvents);
    store.add('a/0', hint('g', 'old 1', 1));
    // A front door queues a newer push of the same group while the replay runs: right after the
    // reconciler drained the hints it replays.
    let drains = 0;
    const racing: HintStore = {
      ...store,
      add: (replica, h) => store.add(replica, h),
      drain: async (replica) => {
        const drained = await store.drain(replica);
        if (++drains === 1) store.add('a/0', hint('g', 'new 2', 2));
        return drained;
      },
    };
    const views: ReplicaView[] = [{ id: 'a/0', groups: new Map(), suspectSince: 1 }];
    try {
      await handOffHints(views, new Map([['a/0', backend]]), racing, createWritten(), {});
      const left = await store.drain('a/0');
      expect(left.map((h) => h.body?.toString().trim())).toEqual(['new 2']);
    } finally {
      await backend.close();
    }
  });
});
