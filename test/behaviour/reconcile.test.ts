/**
 * Self-healing replicas with real Pushgateways: a replica restarted empty, or frozen while pushes
 * went on, is brought back to the state of its twin by the reconciler; old groups expire.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createReconciler, type Reconciler } from '../../src/reconcile/reconciler.js';
import { createMemoryHintStore } from '../../src/reconcile/hints.js';
import { createSuspectStore, type SuspectStore } from '../../src/reconcile/suspects.js';
import { waitFor } from '../helpers/processes.js';
import type { Group } from '../helpers/pushgateway.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

let door: FrontDoor | undefined;
afterEach(async () => {
  await door?.close();
  door = undefined;
});

async function startWithReconciler(
  config: Record<string, unknown> = {},
  now?: () => number,
  persistence = false,
): Promise<{ door: FrontDoor; reconciler: Reconciler; suspects: SuspectStore; replayed: () => number }> {
  const suspects = createSuspectStore();
  const hints = createMemoryHintStore({ maxPerReplica: 1_000, maxBytes: 1 << 20 }, { queued: () => {}, dropped: () => {} });
  let replayed = 0;
  // Generous time-outs: on a loaded 2-core machine a live replica must not look failed.
  const d = await startFrontDoor({
    shards: 1,
    suspects,
    hints,
    persistence,
    config: { write: { timeoutMs: 5_000 }, health: { intervalMs: 200, timeoutMs: 2_000 }, ...config },
  });
  const reconciler = createReconciler({
    cluster: d.cluster,
    config: d.config.reconcile,
    suspects,
    events: { hintsReplayed: (n) => (replayed += n) },
    ...(now === undefined ? {} : { now }),
    hints,
  });
  return { door: d, suspects, reconciler, replayed: () => replayed };
}

const put = (d: FrontDoor, path: string, value: number) =>
  send(d.url, { method: 'PUT', path, headers: { 'content-type': 'text/plain' }, body: `# TYPE healed gauge\nhealed ${value}\n` });

/** What a group holds, push times aside: `{job="x",instance="i"} -> value`. */
function valuesOf(groups: Group[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of groups) {
    const key = JSON.stringify(g.labels);
    const entry = g.metrics['healed']?.metrics[0];
    out[key] = entry === undefined ? '(no healed metric)' : String(entry['value']);
  }
  return out;
}

/** Runs passes until both replicas hold the same groups; returns how many passes it took. */
async function reconcileUntilEqual(d: FrontDoor, reconciler: Reconciler): Promise<number> {
  let passes = 0;
  await waitFor(
    async () => {
      await reconciler.pass();
      passes++;
      const [a, b] = await Promise.all(d.backends[0]!.map((r) => r.groups()));
      return JSON.stringify(valuesOf(a!)) === JSON.stringify(valuesOf(b!)) && JSON.stringify(a) === JSON.stringify(b);
    },
    { what: 'the replicas to hold identical groups', timeoutMs: 20_000, intervalMs: 50 },
  );
  return passes;
}

/** Pushes rounds of values to `groups` groups until stopped; remembers the last acknowledged. */
function startPushing(d: FrontDoor, groups: number): { stop(): Promise<Record<string, string>> } {
  const acked: Record<string, string> = {};
  let stopped = false;
  const done = (async () => {
    for (let round = 1; !stopped && round <= 10_000; round++) {
      await Promise.all(
        Array.from({ length: groups }, async (_, i) => {
          const res = await put(d, `/metrics/job/heal/instance/i${i}`, round);
          if (res.status === 200) acked[JSON.stringify({ instance: `i${i}`, job: 'heal' })] = String(round);
        }),
      );
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

describe('the reconciler', () => {
  it('refills a replica killed and restarted empty under continuous pushes: nothing lost, nothing older', async () => {
    const started = await startWithReconciler();
    door = started.door;
    const [first, second] = door.backends[0]!;
    const pusher = startPushing(door, 40);
    await waitFor(async () => (await first!.groups()).length === 40, { what: 'the first round of pushes' });
    await second!.kill();
    await started.reconciler.pass(); // sees it gone
    await second!.restart();
    await waitFor(async () => door!.cluster.backends[1]!.up, { what: 'the restarted replica to be probed up' });
    await started.reconciler.pass(); // notices the new start_time
    const acked = await pusher.stop();
    await reconcileUntilEqual(door, started.reconciler);
    const healed = valuesOf(await second!.groups());
    // Every group on both replicas, each with its last acknowledged value.
    expect(healed).toEqual(acked);
    expect(valuesOf(await first!.groups())).toEqual(acked);
    // A replica that received copies is trusted again after the next pass finds it in sync.
    await started.reconciler.pass();
    expect(started.suspects.count()).toBe(0);
  });

  it("never loses a push that lands between a repair copy's read and its write, when only the target stored it", async () => {
    const started = await startWithReconciler();
    door = started.door;
    const d = door;
    const [source, target] = d.backends[0]!;
    const path = '/metrics/job/heal/instance/raced';
    expect((await put(d, path, 1)).status).toBe(200);
    await started.reconciler.pass(); // learns the start times
    await target!.kill();
    await target!.restart(); // empty: the next pass copies the group back from its twin
    await waitFor(async () => d.cluster.backends[1]!.up, { what: 'the restarted replica to be probed up' });
    // The race, made certain: after the pass has read the source (value 1) and checked it is
    // still trusted, the source dies and a push of 2 reaches the target alone (acknowledged);
    // then the copy of 1 lands on the target.
    const targetBackend = d.cluster.backends[1]!;
    const call = targetBackend.call.bind(targetBackend);
    let raced = false;
    targetBackend.call = async (method, at, ...rest) => {
      if (method === 'PUT' && at === path && !raced) {
        raced = true;
        await source!.kill();
        expect((await put(d, path, 2)).status).toBe(200);
      }
      return call(method, at, ...rest);
    };
    await started.reconciler.pass();
    expect(raced).toBe(true);
    expect(valuesOf(await target!.groups())).toEqual({ [JSON.stringify({ instance: 'raced', job: 'heal' })]: '1' });
    // The push of 2 now lives only in the hint kept for the source; it comes back with it.
    await source!.restart();
    await waitFor(async () => d.cluster.backends[0]!.up, { what: 'the source to be probed up' });
    await reconcileUntilEqual(d, started.reconciler);
    for (const replica of [source!, target!]) expect(valuesOf(await replica.groups())).toEqual({ [JSON.stringify({ instance: 'raced', job: 'heal' })]: '2' });
  });

  it('gives a replica frozen (SIGSTOP) during pushes and deletes exactly the latest state of every group', async () => {
    const started = await startWithReconciler({ health: { intervalMs: 200, timeoutMs: 300 } });
    door = started.door;
    const [live, frozen] = door.backends[0]!;
    for (let i = 0; i < 10; i++) expect((await put(door, `/metrics/job/heal/instance/i${i}`, 1)).status).toBe(200);
    frozen!.stop();
    try {
      for (let i = 0; i < 10; i++) expect((await put(door, `/metrics/job/heal/instance/i${i}`, 2)).status).toBe(200);
      for (let i = 10; i < 15; i++) expect((await put(door, `/metrics/job/heal/instance/i${i}`, 3)).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await send(door.url, { method: 'DELETE', path: `/metrics/job/heal/instance/i${i}` })).status).toBe(202);
    } finally {
      frozen!.cont();
    }
    await waitFor(async () => door!.cluster.backends[1]!.up, { what: 'the thawed replica to be probed up' });
    await reconcileUntilEqual(door, started.reconciler);
    const expected: Record<string, string> = {};
    for (let i = 3; i < 10; i++) expected[JSON.stringify({ instance: `i${i}`, job: 'heal' })] = '2';
    for (let i = 10; i < 15; i++) expected[JSON.stringify({ instance: `i${i}`, job: 'heal' })] = '3';
    expect(valuesOf(await frozen!.groups())).toEqual(expected);
    expect(valuesOf(await live!.groups())).toEqual(expected);
  });

  it('replays missed writes in order when both replicas missed some: a missed DELETE is not undone', async () => {
    // Persistence files and graceful stops: each replica keeps its groups across its outage.
    const started = await startWithReconciler({}, undefined, true);
    door = started.door;
    const [r0, r1] = door.backends[0]!;
    const upAgain = (i: number) => waitFor(async () => door!.cluster.backends[i]!.up, { what: `replica ${i} to be probed up` });
    for (const g of ['keep', 'gone', 'changed']) expect((await put(door, `/metrics/job/${g}`, 1)).status).toBe(200);
    // r0 misses a DELETE and an update…
    await r0!.kill('SIGTERM');
    expect((await send(door.url, { method: 'DELETE', path: '/metrics/job/gone' })).status).toBe(202);
    expect((await put(door, '/metrics/job/changed', 2)).status).toBe(200);
    await r0!.restart();
    await upAgain(0);
    // …then, before anything is repaired, r1 misses a new group.
    await r1!.kill('SIGTERM');
    expect((await put(door, '/metrics/job/new', 1)).status).toBe(200);
    await r1!.restart();
    await upAgain(1);
    await reconcileUntilEqual(door, started.reconciler);
    const expected = {
      [JSON.stringify({ job: 'changed' })]: '2',
      [JSON.stringify({ job: 'keep' })]: '1',
      [JSON.stringify({ job: 'new' })]: '1',
    };
    expect(valuesOf(await r0!.groups())).toEqual(expected);
    expect(valuesOf(await r1!.groups())).toEqual(expected);
    expect(started.replayed()).toBeGreaterThan(0);
  });

  it('a replayed missed write does not win over a newer push the replica got after it came back', async () => {
    const started = await startWithReconciler({}, undefined, true);
    door = started.door;
    const d = door;
    const [r0, r1] = d.backends[0]!;
    const upAgain = (i: number) => waitFor(async () => d.cluster.backends[i]!.up, { what: `replica ${i} to be probed up` });
    expect((await put(d, '/metrics/job/g', 0)).status).toBe(200);
    // r0 misses the push of 1 (kept as a hint)…
    await r0!.kill('SIGTERM');
    expect((await put(d, '/metrics/job/g', 1)).status).toBe(200);
    await r0!.restart();
    await upAgain(0);
    // …then both replicas take the push of 2; r1 misses another group, so neither is trusted.
    expect((await put(d, '/metrics/job/g', 2)).status).toBe(200);
    await r1!.kill('SIGTERM');
    expect((await put(d, '/metrics/job/h', 1)).status).toBe(200);
    await r1!.restart();
    await upAgain(1);
    // Replaying the push of 1 on r0 makes it look newest by its push time; it stands for the
    // time that push was received, so the push of 2 on r1 wins.
    await reconcileUntilEqual(d, started.reconciler);
    const expected = { [JSON.stringify({ job: 'g' })]: '2', [JSON.stringify({ job: 'h' })]: '1' };
    expect(valuesOf(await r0!.groups())).toEqual(expected);
    expect(valuesOf(await r1!.groups())).toEqual(expected);
  });

  it('expires exactly the groups past their age, on both replicas, and nothing else', async () => {
    let offsetMs = 0;
    const started = await startWithReconciler({ reconcile: { expire: [{ jobs: 'nightly-*', maxAgeSeconds: 3600 }] } }, () => Date.now() + offsetMs);
    door = started.door;
    for (const job of ['nightly-a', 'nightly-b', 'hourly']) expect((await put(door, `/metrics/job/${job}`, 1)).status).toBe(200);
    await started.reconciler.pass();
    expect((await door.backends[0]![0]!.groups()).length).toBe(3);
    offsetMs = 3_601_000;
    const report = await started.reconciler.pass();
    expect(report.expired).toBe(4);
    for (const replica of door.backends[0]!) {
      await waitFor(async () => (await replica.groups()).length === 1, { what: 'the expired groups to be deleted' });
      expect((await replica.groups()).map((g) => g.labels['job'])).toEqual(['hourly']);
    }
  });
});
