/**
 * Live resizing through one front door with real Pushgateways: the ring grows and shrinks while
 * pushes continue; groups move from the shards that lost them to the shard that gained them,
 * nothing acknowledged is lost, and no group stays on two shards.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { ringOf } from '../../src/core/ring.js';
import { createReconciler, type Reconciler } from '../../src/reconcile/reconciler.js';
import { createLocalTransition, type Transition } from '../../src/reconcile/transition.js';
import { createSuspectStore } from '../../src/reconcile/suspects.js';
import { withDraining } from '../helpers/config.js';
import { waitFor } from '../helpers/processes.js';
import { expectMigrated, locateGroups, send, startFrontDoor, type FrontDoor } from './front-door.js';

let door: FrontDoor | undefined;
afterEach(async () => {
  await door?.close();
  door = undefined;
});

const GROUPS = 300;
const keyOf = (i: number) => `{instance="i${i}",job="resize"}`;

/** Pushes rounds to every group until stopped; remembers each group's last acknowledged value. */
function startPushing(d: FrontDoor): { stop(): Promise<Map<number, string>> } {
  const acked = new Map<number, string>();
  let stopped = false;
  const done = (async () => {
    for (let round = 1; !stopped && round <= 1_000; round++) {
      for (let batch = 0; batch < GROUPS; batch += 50) {
        await Promise.all(
          Array.from({ length: 50 }, async (_, j) => {
            const i = batch + j;
            const res = await send(d.url, {
              method: 'PUT',
              path: `/metrics/job/resize/instance/i${i}`,
              headers: { 'content-type': 'text/plain' },
              body: `resized ${round}\n`,
            });
            if (res.status === 200) acked.set(i, String(round));
          }),
        );
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return acked;
    },
  };
}

/** A reload as the server does it: the change is recorded, then the ring applied. */
const inForce = new WeakMap<FrontDoor, Readonly<Config>>();
async function change(d: FrontDoor, transition: Transition, next: Readonly<Config>): Promise<void> {
  expect(await transition.begin(inForce.get(d) ?? d.config, next)).toEqual({ from: (inForce.get(d) ?? d.config).shards });
  d.cluster.applyRing(next);
  inForce.set(d, next);
}

function reconcilerFor(d: FrontDoor): { reconciler: Reconciler; transition: Transition } {
  const transition = createLocalTransition(d.cluster, 0);
  return {
    transition,
    reconciler: createReconciler({ cluster: d.cluster, config: d.config.reconcile, suspects: createSuspectStore(), transition, migrate: true }),
  };
}

/** Runs passes (ending the dual phase when the migration settles) until nothing is misplaced. */
async function migrate(d: FrontDoor, reconciler: Reconciler): Promise<number> {
  let passes = 0;
  await waitFor(
    async () => {
      const report = await reconciler.pass();
      passes++;
      return d.cluster.phase === 'steady' && report.misplaced === 0 && report.actions.length === 0 && report.migration.length === 0;
    },
    { what: 'the migration to converge', timeoutMs: 30_000, intervalMs: 20 },
  );
  return passes;
}

describe('live resizing', () => {
  it('never lets the migration undo a push acknowledged during the transition', async () => {
    door = await startFrontDoor({ shards: 2, drainingShards: [1] });
    const d = door;
    const { reconciler, transition } = reconcilerFor(d);
    const grown = withDraining(d.config, []);
    const next = ringOf(grown.shards);
    // A group that moves from s0 (the only owner so far) to s1.
    const i = Array.from({ length: 1_000 }, (_, n) => n).find((n) => next.ownerOf(keyOf(n)) === 's1')!;
    const push = (value: number) =>
      send(d.url, { method: 'PUT', path: `/metrics/job/resize/instance/i${i}`, headers: { 'content-type': 'text/plain' }, body: `resized ${value}\n` });
    expect((await push(1)).status).toBe(200);
    await change(d, transition, grown);
    // Acknowledged during the transition, before any migration pass.
    expect((await push(2)).status).toBe(200);
    await migrate(d, reconciler);
    const where = (await locateGroups(d.backends, 'resized')).get(i);
    expect(where).toEqual({ shards: ['s1'], value: '2' });
  });

  it("answers a moving group's push as failed when its new shard did not store it", async () => {
    door = await startFrontDoor({ shards: 2, drainingShards: [1] });
    const d = door;
    const { transition } = reconcilerFor(d);
    const grown = withDraining(d.config, []);
    const next = ringOf(grown.shards);
    const moving = Array.from({ length: 1_000 }, (_, n) => n).find((n) => next.ownerOf(keyOf(n)) === 's1')!;
    const staying = Array.from({ length: 1_000 }, (_, n) => n).find((n) => next.ownerOf(keyOf(n)) === 's0')!;
    const push = (i: number) =>
      send(d.url, { method: 'PUT', path: `/metrics/job/resize/instance/i${i}`, headers: { 'content-type': 'text/plain' }, body: 'resized 1\n' });
    await change(d, transition, grown);
    for (const replica of d.backends[1]!) await replica.kill();
    const refused = await push(moving);
    expect(refused.status).toBe(503);
    expect(refused.body).toContain('is moving to shard "s1" in a ring change; its current shard stored the push');
    expect((await push(staying)).status).toBe(200);
  });

  it("repairs a stale metric family on the new owner while POSTs keep changing the group's other families", async () => {
    door = await startFrontDoor({ shards: 2, drainingShards: [1] });
    const d = door;
    const { reconciler, transition } = reconcilerFor(d);
    const grown = withDraining(d.config, []);
    const i = Array.from({ length: 1_000 }, (_, n) => n).find((n) => ringOf(grown.shards).ownerOf(keyOf(n)) === 's1')!;
    const path = `/metrics/job/resize/instance/i${i}`;
    const body = (m1: number, m2: number) => `# TYPE m1 gauge\nm1 ${m1}\n# TYPE m2 gauge\nm2 ${m2}\n`;
    expect((await send(d.url, { method: 'PUT', path, headers: { 'content-type': 'text/plain' }, body: body(1, 0) })).status).toBe(200);
    await change(d, transition, grown);
    // The new owner holds a stale m1 (as a copy racing a push would leave it)…
    for (const replica of d.backends[1]!) expect((await fetch(`${replica.url}${path}`, { method: 'PUT', body: body(0, 0) })).status).toBe(200);
    // …while the job keeps POSTing m2: the group as a whole differs differently at every pass.
    let m2 = 0;
    await waitFor(
      async () => {
        m2++;
        const res = await send(d.url, { method: 'POST', path, headers: { 'content-type': 'text/plain' }, body: `# TYPE m2 gauge\nm2 ${m2}\n` });
        expect(res.status).toBe(200);
        const report = await reconciler.pass();
        return d.cluster.phase === 'steady' && report.misplaced === 0;
      },
      { what: 'the change to complete', timeoutMs: 30_000, intervalMs: 20 },
    );
    for (const replica of d.backends[1]!) {
      const [g] = await replica.groups();
      expect([g?.metrics['m1']?.metrics[0]?.['value'], g?.metrics['m2']?.metrics[0]?.['value']]).toEqual(['1', String(m2)]);
    }
    for (const replica of d.backends[0]!) expect(await replica.groups()).toEqual([]);
  });

  it('grows 2 -> 3 shards under continuous pushes, then shrinks back by draining and removing', async () => {
    door = await startFrontDoor({ shards: 3, drainingShards: [2], config: { write: { timeoutMs: 3_000 } } });
    const d = door;
    const { reconciler, transition } = reconcilerFor(d);
    const before = ringOf(d.config.shards);

    const pusher = startPushing(d);
    await waitFor(async () => (await d.backends[0]![0]!.groups()).length > 0, { what: 'the first pushes' });
    // Grow: s2 starts owning its share. Pushes keep going through the transition.
    const grown = withDraining(d.config, []);
    await change(d, transition, grown);
    expect(d.cluster.phase).toBe('dual');
    const passes = await migrate(d, reconciler);
    const acked = await pusher.stop();
    await migrate(d, reconciler);

    const after = ringOf(grown.shards);
    const located = await locateGroups(d.backends, 'resized');
    const moved = expectMigrated(located, acked, keyOf, { before, after }, GROUPS, 's2');
    expect(moved).toBeGreaterThan(0);
    console.info(`grow: ${moved} of ${GROUPS} groups moved onto s2 in ${passes} passes`);

    // Shrink: drain s2, migrate everything off it, then remove it.
    const drained = withDraining(d.config, ['s2']);
    await change(d, transition, drained);
    await migrate(d, reconciler);
    for (const replica of d.backends[2]!) expect(await replica.groups()).toEqual([]);
    const final = await locateGroups(d.backends, 'resized');
    for (let i = 0; i < GROUPS; i++) {
      expect(final.get(i)?.shards).toEqual([before.ownerOf(keyOf(i))]);
      expect(final.get(i)?.value).toBe(acked.get(i));
    }
  });
});
