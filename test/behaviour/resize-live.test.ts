/**
 * The ring resized live, as an operator does it: two front door processes sharing one Redis,
 * their configuration files edited a few seconds apart while pushes go through both.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ringOf } from '../../src/core/ring.js';
import { freePort, spawnProcess, tempDir, waitFor, type ManagedProcess } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { locateGroups, send } from './front-door.js';

const GROUPS = Number(process.env['PUSHRING_LIVE_GROUPS'] ?? 20_000);
const HOT = 1_000; // groups pushed again and again during the change
const keyOf = (i: number) => `{instance="i${i}",job="live"}`;

let redis: RedisServer;
const backends: Pushgateway[][] = [];
const doors: Array<{ url: string; file: string; process: ManagedProcess }> = [];
let dir: string;

type ShardSpec = { name: string; draining?: boolean };

function configText(port: number, shards: ShardSpec[]): string {
  return [
    `listen: "127.0.0.1:${port}"`,
    'log: { level: warn }',
    `redis: { url: "${redis.url}", keyPrefix: "live:" }`,
    'health: { intervalMs: 200, timeoutMs: 500 }',
    'reconcile: { intervalSeconds: 1, concurrency: 16 }',
    'reload: { liveResize: true, intervalSeconds: 1 }',
    `discovery: { file: "${join(dir, `targets-${port}.json`)}" }`,
    'write: { timeoutMs: 5000 }',
    'shards:',
    ...shards.map(({ name, draining }) => {
      const s = Number(name.slice(1));
      return `  - { name: ${name}, draining: ${draining === true}, replicas: ["${backends[s]![0]!.url}", "${backends[s]![1]!.url}"] }`;
    }),
  ].join('\n');
}

/** Replaces a front door's file by rename, as an editor or a ConfigMap does. */
async function edit(door: (typeof doors)[number], port: number, shards: ShardSpec[]): Promise<void> {
  await writeFile(`${door.file}.tmp`, configText(port, shards));
  await rename(`${door.file}.tmp`, door.file);
}

async function status(url: string): Promise<{ ringVersion: string; phase: string }> {
  return (await (await fetch(`${url}/-/status`)).json()) as { ringVersion: string; phase: string };
}

const ports: number[] = [];
const pushTo = (i: number, value: number) =>
  send(doors[i % 2]!.url, { method: 'PUT', path: `/metrics/job/live/instance/i${i}`, headers: { 'content-type': 'text/plain' }, body: `live ${value}\n` });

beforeAll(async () => {
  redis = await startRedis();
  for (let s = 0; s < 5; s++) {
    backends.push(await Promise.all([0, 1].map(() => startPushgateway({ args: ['--push.disable-consistency-check'] }))));
  }
  dir = await tempDir('pushring-live-');
  for (let d = 0; d < 2; d++) {
    const port = await freePort();
    ports.push(port);
    const file = join(dir, `front-door-${d}.yaml`);
    await writeFile(file, configText(port, [{ name: 's0' }, { name: 's1' }, { name: 's2' }, { name: 's3' }, { name: 's4', draining: true }]));
    doors.push({ url: `http://127.0.0.1:${port}`, file, process: spawnDoor(file, d) });
  }
  for (const door of doors) await waitFor(async () => (await fetch(`${door.url}/-/ready`)).ok, { what: `${door.url} to be ready`, timeoutMs: 20_000 });
}, 120_000);

function spawnDoor(file: string, d: number): ManagedProcess {
  return spawnProcess(process.execPath, ['bin/pushring.js', 'serve', '--config', file], { logFile: join(dir, `front-door-${d}-${Date.now()}.log`) });
}

/** A rolling restart with a new file, instead of a reload. */
async function restartWith(d: number, shards: ShardSpec[]): Promise<void> {
  const door = doors[d]!;
  door.process.kill('SIGTERM');
  await door.process.exited;
  await writeFile(door.file, configText(ports[d]!, shards));
  door.process = spawnDoor(door.file, d);
  await waitFor(async () => (await fetch(`${door.url}/-/ready`).catch(() => undefined))?.ok === true, {
    what: `${door.url} to be ready again`,
    timeoutMs: 20_000,
  });
}

afterAll(async () => {
  for (const door of doors) {
    door.process.kill();
    await door.process.exited;
  }
  await Promise.all(backends.flat().map((b) => b.close()));
  await redis?.close();
});

// A live change is awaited for up to 90 s and its convergence for 60 s more (the waits below);
// the suite's 60 s per test would cut a slow machine's run short of its own deadlines.
describe('resizing the ring live with two front doors', { timeout: 180_000 }, () => {
  const acked = new Map<number, string>();
  const deleted = new Set<number>();
  let value = 0;
  /** The last value sent to each group, answered or not. */
  const attempted = new Map<number, number>();

  /**
   * A group holds its last acknowledged value, or a later one whose answer was lost (a push in
   * flight through a front door being restarted may have been stored), never an older one.
   */
  function expectLatest(i: number, stored: string | undefined): void {
    const last = acked.get(i);
    if (stored === last) return;
    expect(Number(stored) > Number(last) && Number(stored) <= (attempted.get(i) ?? -1), `group i${i} holds ${stored}, last acknowledged ${last}`).toBe(true);
  }

  /**
   * Continuous pushes at a steady 250/s through both front doors, each with a value of its own:
   * half to a hot set pushed again every 8 s, half sweeping all groups in a scattered order, so
   * that moving groups get their last push at every moment of a change.
   */
  function startPushing(): { landed(): Promise<void>; stop(): Promise<void> } {
    let stopped = false;
    const inFlight = new Set<Promise<void>>();
    const done = (async () => {
      const startedAt = Date.now();
      for (let n = 1; !stopped && n < 100_000; n++) {
        const due = startedAt + n * 4;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
        const i = n % 2 === 0 ? (n / 2) % HOT : HOT + ((n * 7_919) % (GROUPS - HOT));
        if (deleted.has(i)) continue;
        const v = ++value;
        attempted.set(i, v);
        // A push to a front door that is restarting fails: it is simply not acknowledged.
        const push = pushTo(i, v)
          .then(
            (res) => {
              if (res.status < 300 && Number(acked.get(i)) < v) acked.set(i, String(v));
            },
            () => undefined,
          )
          .finally(() => inFlight.delete(push));
        inFlight.add(push);
      }
    })();
    return {
      /** Waits for the pushes in flight now. */
      async landed() {
        await Promise.all([...inFlight]);
      },
      async stop() {
        stopped = true;
        await done;
        await Promise.all([...inFlight]);
      },
    };
  }

  it('grows 4 -> 5 shards while pushes and deletes continue, one front door switching before the other', async () => {
    // 20,000 groups, placed through both front doors.
    for (let start = 0; start < GROUPS; start += 200) {
      await Promise.all(
        Array.from({ length: 200 }, async (_, j) => {
          const i = start + j;
          const res = await pushTo(i, 0);
          if (res.status < 300) acked.set(i, '0');
        }),
      );
    }
    expect(acked.size).toBe(GROUPS);
    const before = ringOf(['s0', 's1', 's2', 's3'].map((name) => ({ name, weight: 1 })));
    const after = ringOf(['s0', 's1', 's2', 's3', 's4'].map((name) => ({ name, weight: 1 })));
    // Retried: a replica that missed a push under load differs from its twin until repaired.
    const placedBefore = await waitFor(() => locateGroups(backends, 'live'), { what: 'the replicas of every shard to agree', timeoutMs: 30_000 });
    const moving = Array.from({ length: GROUPS }, (_, i) => i).filter((i) => before.ownerOf(keyOf(i)) !== after.ownerOf(keyOf(i)));

    const pusher = startPushing();
    const started = Date.now();
    const shards = [{ name: 's0' }, { name: 's1' }, { name: 's2' }, { name: 's3' }, { name: 's4' }];
    await edit(doors[0]!, ports[0]!, shards);
    await waitFor(async () => (await status(doors[0]!.url)).phase === 'dual', { what: 'the first front door to start the change', timeoutMs: 10_000 });
    // While the second front door still writes the old ring alone, it deletes moving groups:
    // the copies already made on the new shard must go too.
    const toDelete = moving.filter((i) => i >= HOT).slice(0, 50);
    for (const i of toDelete) deleted.add(i);
    await pusher.landed(); // pushes already sent to them land first
    for (const i of toDelete) {
      const res = await send(doors[1]!.url, { method: 'DELETE', path: `/metrics/job/live/instance/i${i}` });
      expect(res.status).toBe(202);
      acked.delete(i);
    }
    await waitFor(async () => Date.now() - started > 3_000, { what: 'a few seconds with the front doors on different rings', timeoutMs: 10_000 });
    await edit(doors[1]!, ports[1]!, shards);
    const target = (await status(doors[0]!.url)).ringVersion;
    await waitFor(
      async () => {
        const both = await Promise.all(doors.map((d) => status(d.url)));
        return both.every((s) => s.ringVersion === target && s.phase === 'steady');
      },
      { what: 'both front doors to write the new owners only', timeoutMs: 90_000, intervalMs: 200 },
    );
    await pusher.stop();
    // The replicas of a shard may differ for a moment (a stray deleted from one, not yet from
    // its twin; a repair): only a settled picture counts.
    let located = new Map() as Awaited<ReturnType<typeof locateGroups>>;
    await waitFor(
      async () => {
        located = await locateGroups(backends, 'live');
        return [...located.values()].every((g) => g.shards.length === 1) && toDelete.every((i) => !located.has(i));
      },
      { what: 'no group to remain on two shards', timeoutMs: 60_000, intervalMs: 500 },
    );
    const converged = Date.now() - started;

    // Every group on exactly its owner, with its last acknowledged value; the deleted ones gone.
    for (let i = 0; i < GROUPS; i++) {
      if (deleted.has(i)) {
        expect(located.has(i), `deleted group i${i}`).toBe(false);
        continue;
      }
      expect(located.get(i)?.shards, `group i${i}`).toEqual([after.ownerOf(keyOf(i))]);
      expectLatest(i, located.get(i)?.value);
    }
    // Moves observed on the backends, not computed: each from an old shard to the new one.
    let moved = 0;
    for (const [i, where] of located) {
      const was = placedBefore.get(i)!.shards;
      if (was.join() === where.shards.join()) continue;
      moved++;
      expect(was, `group i${i} came from one old shard`).toHaveLength(1);
      expect(where.shards, `group i${i} went to the new shard`).toEqual(['s4']);
    }
    expect(moved).toBe(moving.length - toDelete.length);
    console.info(
      `grow 4 -> 5: ${moved} of ${GROUPS} groups moved (plan: ${moving.length}, ${((100 * moving.length) / GROUPS).toFixed(1)}%; ${toDelete.length} deleted during the change), converged in ${converged} ms`,
    );
  });

  it('refuses removing a shard that still holds groups, and keeps serving', async () => {
    const four = [{ name: 's0' }, { name: 's1' }, { name: 's2' }, { name: 's3' }];
    const version = (await status(doors[0]!.url)).ringVersion;
    await edit(doors[0]!, ports[0]!, four);
    await waitFor(async () => /pushring_config_reloads_total\{result="refused"\} [1-9]/.test(await (await fetch(`${doors[0]!.url}/-/metrics`)).text()), {
      what: 'the removal to be refused',
      timeoutMs: 10_000,
    });
    expect((await status(doors[0]!.url)).ringVersion).toBe(version);
    expect((await pushTo(0, 1)).status).toBe(200);
    acked.set(0, '1');
  });

  it('rejects an invalid configuration on reload and keeps the ring in force', async () => {
    await writeFile(doors[1]!.file, 'shards: [ this is not yaml');
    await waitFor(async () => /pushring_config_last_reload_successful 0/.test(await (await fetch(`${doors[1]!.url}/-/metrics`)).text()), {
      what: 'the invalid file to be reported',
      timeoutMs: 10_000,
    });
    expect((await pushTo(1, 1)).status).toBe(200);
    acked.set(1, '1');
  });

  it('shrinks 5 -> 4 by draining the fifth shard (one front door restarted with the new file), then removing it; the drained backends end empty', async () => {
    const started = Date.now();
    const pusher = startPushing();
    const drained = [{ name: 's0' }, { name: 's1' }, { name: 's2' }, { name: 's3' }, { name: 's4', draining: true }];
    // The first front door is restarted with the new file (it starts the change itself), the
    // second reloads its file a few seconds later.
    await restartWith(0, drained);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await edit(doors[1]!, ports[1]!, drained);
    await waitFor(async () => (await Promise.all(backends[4]!.map((r) => r.groups()))).every((g) => g.length === 0), {
      what: 'the drained shard to be empty',
      timeoutMs: 90_000,
      intervalMs: 500,
    });
    await pusher.stop();
    // Prometheus keeps scraping the drained shard until it is removed: file_sd and http_sd.
    const shardsIn = async (d: number): Promise<string[][]> => {
      const labelsOf = (targets: Array<{ labels: Record<string, string> }>): string[] => [...new Set(targets.map((t) => t.labels['shard']!))].sort();
      const http = (await (await fetch(`${doors[d]!.url}/-/sd/targets`)).json()) as Array<{ labels: Record<string, string> }>;
      const file = JSON.parse(await readFile(join(dir, `targets-${ports[d]}.json`), 'utf8')) as Array<{ labels: Record<string, string> }>;
      return [labelsOf(http), labelsOf(file)];
    };
    for (const d of [0, 1])
      expect(await shardsIn(d)).toEqual([
        ['s0', 's1', 's2', 's3', 's4'],
        ['s0', 's1', 's2', 's3', 's4'],
      ]);
    const four = [{ name: 's0' }, { name: 's1' }, { name: 's2' }, { name: 's3' }];
    for (const [d, door] of doors.entries()) await edit(door, ports[d]!, four);
    const finalVersion = ringOf(four.map((s) => ({ ...s, weight: 1 }))).shards.join();
    await waitFor(
      async () =>
        (await Promise.all(doors.map((d) => fetch(`${d.url}/-/status`).then((r) => r.json() as Promise<{ shards: unknown[] }>)))).every(
          (s) => s.shards.length === 4,
        ),
      { what: 'both front doors to drop the removed shard', timeoutMs: 20_000 },
    );
    const fourShards = JSON.stringify([
      ['s0', 's1', 's2', 's3'],
      ['s0', 's1', 's2', 's3'],
    ]);
    await waitFor(async () => (await Promise.all([0, 1].map(shardsIn))).every((both) => JSON.stringify(both) === fourShards), {
      what: 'the targets to drop the removed shard',
      timeoutMs: 10_000,
    });
    const before = ringOf(['s0', 's1', 's2', 's3'].map((name) => ({ name, weight: 1 })));
    // The replicas of a shard may differ for a moment (a stray deleted from one, not yet from
    // its twin; a repair): only a settled picture counts.
    let located = new Map() as Awaited<ReturnType<typeof locateGroups>>;
    await waitFor(
      async () => {
        located = await locateGroups(backends, 'live');
        return [...located.values()].every((g) => g.shards.length === 1);
      },
      { what: 'no group to remain on two shards', timeoutMs: 60_000, intervalMs: 500 },
    );
    for (let i = 0; i < GROUPS; i++) {
      if (deleted.has(i)) {
        expect(located.has(i), `deleted group i${i}`).toBe(false);
        continue;
      }
      expect(located.get(i)?.shards, `group i${i}`).toEqual([before.ownerOf(keyOf(i))]);
      expectLatest(i, located.get(i)?.value);
    }
    console.info(`shrink 5 -> 4 (${finalVersion}): drained and removed in ${Date.now() - started} ms`);
  });
});
