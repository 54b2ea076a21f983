/**
 * Ring changes across front doors through Redis (src/reconcile/transition.ts), with a real
 * redis-server and real Pushgateways: a front door started with another ring than the published
 * one starts the change itself; a second, different change is refused while one is recorded;
 * the change settles only once every live front door writes both owners of the new ring, then
 * goes hold -> delete -> closed; and a front door behind a settled change refuses the pushes of
 * moved groups (PUSHRING_RING_BEHIND) while it keeps serving the others, without holding back
 * the deletion of the change's stray copies.
 *
 * Every transition here is created with `beats: false` and beaten by hand, so that each step is
 * taken exactly when the test says; its heartbeat outlives the test (3 x heartbeatMs).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, ringVersion, type Cluster } from '../../src/backends/cluster.js';
import { main } from '../../src/cli/main.js';
import type { Config } from '../../src/config/schema.js';
import { ringOf, type Ring } from '../../src/core/ring.js';
import { createRedisLease } from '../../src/reconcile/lease.js';
import { createRedisTransition, type ChangeRecord } from '../../src/reconcile/transition.js';
import { captureIo } from '../helpers/cli.js';
import { validated, withDraining } from '../helpers/config.js';
import { tempDir, waitFor } from '../helpers/processes.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startFrontDoor, type FrontDoor } from './front-door.js';

type RedisTransition = ReturnType<typeof createRedisTransition>;

let redis: RedisServer;
let client: Redis;
let door: FrontDoor | undefined;
const clusters: Cluster[] = [];
const transitions: RedisTransition[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
});
afterEach(async () => {
  await Promise.all(transitions.splice(0).map((t) => t.stop()));
  await Promise.all(clusters.splice(0).map((c) => c.close()));
  await door?.close();
  door = undefined;
});
afterAll(async () => {
  client?.disconnect();
  await redis?.close();
});

let prefixes = 0;
const newPrefix = (): string => `transition-${++prefixes}-${Date.now()}:`;

/**
 * Ring A: s0 and s1 own, s2 drains (known, owning nothing). One replica per shard: nothing here
 * is about replication.
 */
async function startRingA(): Promise<FrontDoor> {
  door = await startFrontDoor({ shards: 3, replicas: 1, drainingShards: [2] });
  return door;
}

/** Ring B: the draining shard of ring A owns too. */
const ringBOf = (a: Readonly<Config>): Readonly<Config> => withDraining(a, []);

/** Another front door's cluster, over the same Pushgateways, serving `config`. */
function clusterOf(config: Readonly<Config>): Cluster {
  const cluster = createCluster(config);
  clusters.push(cluster);
  return cluster;
}

function transitionFor(
  prefix: string,
  cluster: Cluster,
  opts: { lagMs?: number; warn?: (message: string) => void; rollbackAfterMs?: number } = {},
): RedisTransition {
  const transition = createRedisTransition({
    client,
    keyPrefix: prefix,
    cluster,
    warn: opts.warn ?? (() => undefined),
    beats: false,
    heartbeatMs: 10_000,
    lagMs: opts.lagMs ?? 0,
    ...(opts.rollbackAfterMs === undefined ? {} : { rollbackAfterMs: opts.rollbackAfterMs }),
  });
  transitions.push(transition);
  return transition;
}

async function recordOf(prefix: string): Promise<ChangeRecord | undefined> {
  const raw = await client.get(`${prefix}transition`);
  return raw === null ? undefined : (JSON.parse(raw) as ChangeRecord);
}

async function publishedRing(prefix: string): Promise<{ version: string; shards: Config['shards'] } | undefined> {
  const raw = await client.get(`${prefix}ring`);
  return raw === null ? undefined : (JSON.parse(raw) as { version: string; shards: Config['shards'] });
}

/**
 * With lagMs 0 a front door counts as dual once a millisecond has passed since it entered the
 * dual phase; waits for that (bounded), then beats so that its heartbeat says so.
 */
async function beatOnceDualReady(transition: RedisTransition, cluster: Cluster): Promise<void> {
  const since = cluster.dualSince;
  if (since === undefined) throw new Error('the cluster is not in the dual phase');
  await waitFor(async () => Date.now() > since, { what: 'a millisecond to pass since the dual phase began', timeoutMs: 1_000, intervalMs: 1 });
  await transition.beat();
}

const keyOf = (i: number): string => `{instance="i${i}",job="t"}`;
const pathOf = (i: number): string => `/metrics/job/t/instance/i${i}`;

/** The first instance number whose group has (or has not) another owner under `after`. */
function findGroup(before: Ring, after: Ring, moves: boolean): number {
  for (let i = 0; i < 10_000; i++) {
    if ((before.ownerOf(keyOf(i)) !== after.ownerOf(keyOf(i))) === moves) return i;
  }
  throw new Error(`no group that ${moves ? 'moves' : 'stays'} in 10,000`);
}

describe('ring changes across front doors (Redis)', () => {
  it('a front door started with another ring than the published one starts the change itself', async () => {
    const d = await startRingA();
    const prefix = newPrefix();
    const a = transitionFor(prefix, d.cluster);
    await a.beat();
    expect(await publishedRing(prefix)).toEqual({ version: d.cluster.version, shards: d.config.shards });
    expect(await recordOf(prefix)).toBeUndefined();

    // A restart with a new file: s2 owns too.
    const configB = ringBOf(d.config);
    const clusterB = clusterOf(configB);
    const b = transitionFor(prefix, clusterB);
    expect(clusterB.phase).toBe('steady');
    await b.beat();

    const record = await recordOf(prefix);
    expect(record).toMatchObject({ from: d.cluster.version, to: clusterB.version, settled: false });
    expect(record?.fromShards).toEqual(d.config.shards);
    expect(record?.toShards).toEqual(configB.shards);
    expect(clusterB.phase).toBe('dual');

    const before = ringOf(d.config.shards);
    const after = ringOf(configB.shards);
    const moved = findGroup(before, after, true);
    const stays = findGroup(before, after, false);
    expect(clusterB.ownerOf(keyOf(moved)).name).toBe('s2');
    expect(clusterB.previousOwnerOf(keyOf(moved))?.name).toBe(before.ownerOf(keyOf(moved)));
    expect(clusterB.previousOwnerOf(keyOf(stays))).toBeUndefined();

    // The front door on ring A neither joins nor undoes it: it keeps its ring until reloaded.
    await a.beat();
    expect(d.cluster.phase).toBe('steady');
    expect(d.cluster.version).toBe(record?.from);
    for (const t of [a, b]) expect(await t.state()).toMatchObject({ id: record?.id, phase: 'copy', to: clusterB.version });
    // The published ring stays A until the change is closed.
    expect((await publishedRing(prefix))?.version).toBe(d.cluster.version);
  });

  it('begin() refuses a second, different change while one is recorded, and joins the same one', async () => {
    const d = await startRingA();
    const prefix = newPrefix();
    const a = transitionFor(prefix, d.cluster);
    await a.beat();
    const configB = ringBOf(d.config);
    expect(await a.begin(d.config, configB)).toEqual({ from: d.config.shards });
    const recorded = await recordOf(prefix);
    expect(recorded).toMatchObject({ from: ringVersion(d.config.shards), to: ringVersion(configB.shards), settled: false });

    // s1 drains and s2 owns: another ring than the one under way.
    const configC = withDraining(d.config, ['s1']);
    expect(ringVersion(configC.shards)).not.toBe(ringVersion(configB.shards));
    const refusal = await a.begin(d.config, configC);
    expect(refusal).toEqual({ refused: expect.stringContaining(`the ring change to ${ringVersion(configB.shards)} is still being applied`) });
    // Another front door asking for the same target joins the change recorded.
    const other = transitionFor(prefix, clusterOf(d.config));
    expect(await other.begin(d.config, configB)).toEqual({ from: d.config.shards });
    expect(await recordOf(prefix)).toEqual(recorded);
  });

  it('settles once every live front door writes both owners of the new ring, then holds, deletes and closes', async () => {
    const d = await startRingA();
    const prefix = newPrefix();
    const configB = ringBOf(d.config);
    const a = transitionFor(prefix, d.cluster);
    await a.beat();
    const clusterB = clusterOf(configB);
    const b = transitionFor(prefix, clusterB);
    await b.beat();
    await beatOnceDualReady(b, clusterB);
    const id = (await b.state()).id;
    expect(id).toBeDefined();

    // The front door on ring A is still live and writes the old owner alone.
    expect(await b.settle(id!)).toBe(false);
    expect((await b.state()).everyoneDual).toBe(false);

    // It reloads ring B: now both live front doors write both owners.
    d.cluster.applyRing(configB);
    expect(d.cluster.phase).toBe('dual');
    await beatOnceDualReady(a, d.cluster);

    // A third front door has just joined the dual phase, for less than its lagMs.
    const clusterC = clusterOf(configB);
    const c = transitionFor(prefix, clusterC, { lagMs: 3_600_000 });
    await c.beat();
    expect(clusterC.phase).toBe('dual');
    expect(await b.settle(id!)).toBe(false);
    expect((await b.state()).everyoneDual).toBe(false);

    // It leaves: every live front door has been dual for long enough.
    await c.stop();
    expect((await b.state()).everyoneDual).toBe(true);
    expect(await b.settle('some other change')).toBe(false);
    expect(await b.settle(id!)).toBe(true);
    expect(await recordOf(prefix)).toMatchObject({ id, settled: true });
    expect(await b.settle(id!)).toBe(false);
    // settle() beat for b: it writes the new owners alone. a has not heard yet.
    expect(clusterB.phase).toBe('steady');
    expect(d.cluster.phase).toBe('dual');
    expect((await b.state()).phase).toBe('hold');

    await a.beat();
    expect(d.cluster.phase).toBe('steady');
    expect(d.cluster.fence).toBeUndefined();
    expect((await a.state()).phase).toBe('delete');

    await b.close(id!);
    expect(await recordOf(prefix)).toBeUndefined();
    expect(await publishedRing(prefix)).toEqual({
      version: ringVersion(configB.shards),
      shards: configB.shards,
      previous: ringVersion(d.config.shards),
      closed: id,
    });
    expect(await b.state()).toMatchObject({ id: undefined, phase: 'none' });
    // Nothing left to follow: both stay steady on ring B, and no new change is recorded.
    await Promise.all([a.beat(), b.beat()]);
    expect([d.cluster.phase, clusterB.phase]).toEqual(['steady', 'steady']);
    expect(await recordOf(prefix)).toBeUndefined();
    // A front door started afterwards with the old file is behind, not the start of a change back.
    const late = clusterOf(d.config);
    const warnings: string[] = [];
    await transitionFor(prefix, late, { warn: (m) => warnings.push(m) }).beat();
    expect(await recordOf(prefix)).toBeUndefined();
    expect(late.fence?.map((r) => r.shards)).toEqual([ringOf(configB.shards).shards]);
    expect(warnings).toEqual([expect.stringContaining('older than the ring in force')]);
    // Given the new file, it catches up: the ring is applied without starting a change.
    expect(await transitionFor(prefix, late).begin(d.config, configB)).toEqual({ catchUp: true });
    expect(await recordOf(prefix)).toBeUndefined();
    // Once no front door serves ring B any more (a rollback by rolling restart), the one on A
    // starts the change back instead.
    await Promise.all([a.stop(), b.stop()]);
    const rolledBack = clusterOf(d.config);
    // (after a while: here none, in production 30 s without a front door on B)
    await transitionFor(prefix, rolledBack, { rollbackAfterMs: 0 }).beat();
    expect(await recordOf(prefix)).toMatchObject({ from: ringVersion(configB.shards), to: ringVersion(d.config.shards), settled: false });
    expect([rolledBack.phase, rolledBack.fence]).toEqual(['dual', undefined]);
  });

  it('a front door started with a file that removes an undrained shard is fenced instead of starting a change', async () => {
    const d = await startRingA();
    const prefix = newPrefix();
    await transitionFor(prefix, d.cluster).beat(); // publishes ring A
    const withoutS1 = validated({ ...d.config, shards: d.config.shards.filter((s) => s.name !== 's1') });
    const cluster = clusterOf(withoutS1);
    const warnings: string[] = [];
    await transitionFor(prefix, cluster, { warn: (m) => warnings.push(m) }).beat();
    expect(await recordOf(prefix)).toBeUndefined();
    expect(cluster.fence?.map((r) => r.shards)).toEqual([ringOf(d.config.shards).shards]);
    expect(warnings).toEqual([expect.stringContaining('removes shard(s) s1 without draining')]);
  });

  it('puts back a change record Redis lost, with the published ring, and the old side does not republish its ring', async () => {
    const d = await startRingA();
    const prefix = newPrefix();
    const configB = ringBOf(d.config);
    const a = transitionFor(prefix, d.cluster);
    await a.beat(); // publishes ring A
    const clusterB = clusterOf(configB);
    const warnings: string[] = [];
    const b = transitionFor(prefix, clusterB, { warn: (m) => warnings.push(m) });
    await b.beat(); // starts the change A -> B
    await a.beat(); // the front door on A sees it
    const before = await recordOf(prefix);
    expect(clusterB.phase).toBe('dual');
    // Redis restarted without persistence: every key gone.
    await client.del(`${prefix}transition`, `${prefix}ring`);
    await a.beat();
    expect(await publishedRing(prefix)).toBeUndefined();
    // A front door started meanwhile on B publishes B (it knows of no change)…
    await transitionFor(prefix, clusterOf(configB)).beat();
    expect((await publishedRing(prefix))?.version).toBe(ringVersion(configB.shards));
    // …which proves nothing: the front door that knew the change puts it back.
    await b.beat();
    expect(await recordOf(prefix)).toEqual(before);
    expect(clusterB.phase).toBe('dual');
    expect(warnings).toEqual([expect.stringContaining('was missing from Redis: put back')]);
  });

  it('a front door restarted mid-change without a shard groups still move from is fenced, not dual', async () => {
    const d = await startRingA();
    const prefix = newPrefix();
    const configB = ringBOf(d.config);
    await transitionFor(prefix, clusterOf(configB)).beat(); // publishes ring B
    // The change B -> C drains s1…
    const configC = withDraining(configB, ['s1']);
    await transitionFor(prefix, clusterOf(configC)).beat();
    expect((await recordOf(prefix))?.to).toBe(ringVersion(configC.shards));
    // …and a front door comes up with s1 already gone from its file (same ring version as C).
    const withoutS1 = validated({ ...configC, shards: configC.shards.filter((s) => s.name !== 's1') });
    expect(ringVersion(withoutS1.shards)).toBe(ringVersion(configC.shards));
    const cluster = clusterOf(withoutS1);
    const warnings: string[] = [];
    await transitionFor(prefix, cluster, { warn: (m) => warnings.push(m) }).beat();
    expect(cluster.phase).toBe('steady');
    expect(cluster.fence?.map((r) => r.shards)).toEqual([ringOf(configB.shards).shards]);
    expect(warnings).toEqual([expect.stringContaining('from which groups are still moving')]);
  });

  it('a front door behind a settled change refuses pushes of moved groups and serves the others', async () => {
    const d = await startRingA();
    const prefix = newPrefix();
    const configB = ringBOf(d.config);
    // The change A -> B is recorded, followed and settled by another front door while this one
    // beat nowhere (say it was cut off from Redis).
    const clusterB = clusterOf(configB);
    const b = transitionFor(prefix, clusterB);
    expect(await b.begin(d.config, configB)).toEqual({ from: d.config.shards });
    await b.beat();
    expect(clusterB.phase).toBe('dual');
    await beatOnceDualReady(b, clusterB);
    const id = (await b.state()).id!;
    expect(await b.settle(id)).toBe(true);

    const warnings: string[] = [];
    const a = transitionFor(prefix, d.cluster, { warn: (m) => warnings.push(m), lagMs: 200 });
    expect(d.cluster.fence).toBeUndefined();
    await a.beat();
    expect(d.cluster.fence?.map((r) => r.shards)).toEqual([['s0', 's1', 's2']]);
    expect(d.cluster.phase).toBe('steady');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`older than the settled ring change to ${clusterB.version}`);
    // Fenced by ring B it writes no stray copy: once its heartbeat says so (after the lag, for
    // pushes routed before the fence), the stray copies may go; it holds the change back no longer.
    expect((await b.state()).phase).toBe('hold');
    await new Promise((resolve) => setTimeout(resolve, 250));
    await a.beat();
    expect((await b.state()).phase).toBe('delete');

    const before = ringOf(d.config.shards);
    const after = ringOf(configB.shards);
    const moved = findGroup(before, after, true);
    const stays = findGroup(before, after, false);
    const push = async (i: number) => {
      const res = await fetch(d.url + pathOf(i), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'fenced 1\n' });
      return { status: res.status, error: res.headers.get('x-pushring-error'), body: await res.text() };
    };

    const refused = await push(moved);
    expect(refused.status).toBe(503);
    expect(refused.error).toBe('PUSHRING_RING_BEHIND');
    expect(refused.body).toContain(`shard "${after.ownerOf(keyOf(moved))}"`);

    const accepted = await push(stays);
    expect([200, 202]).toContain(accepted.status);
    expect(accepted.error).toBeNull();

    // The refused group is stored nowhere; the other is on its owner (the same under A and B).
    const owner = before.ownerOf(keyOf(stays));
    for (const [s, replicas] of d.backends.entries()) {
      for (const replica of replicas) {
        const instances = (await replica.groups()).map((g) => g.labels['instance']);
        expect(instances, `shard s${s}`).toEqual(`s${s}` === owner ? [`i${stays}`] : []);
      }
    }

    // Once it loads ring B the fence lifts and the moved group is written again.
    d.cluster.applyRing(configB);
    await a.beat();
    expect(d.cluster.fence).toBeUndefined();
    expect(d.cluster.phase).toBe('steady');
    expect((await push(moved)).status).toBe(200);
    const newOwner = d.backends[Number(after.ownerOf(keyOf(moved)).slice(1))]![0]!;
    expect((await newOwner.groups()).map((g) => g.labels['instance'])).toContain(`i${moved}`);
  });
});

describe('the reconcile lease', () => {
  it('tells a lease taken from one renewed: the reconciler forgets its earlier passes when it was taken', async () => {
    const prefix = newPrefix();
    const a = createRedisLease(client, prefix, 60_000);
    const b = createRedisLease(client, prefix, 60_000);
    expect([await a.acquire(), a.taken]).toEqual([true, true]);
    expect([await a.acquire(), a.taken]).toEqual([true, false]);
    expect(await b.acquire()).toBe(false);
    await a.release();
    expect([await b.acquire(), b.taken]).toEqual([true, true]);
    expect([await a.acquire(), a.taken]).toEqual([false, false]);
    await b.release();
  });
});

describe('pushring reconcile during a ring change', () => {
  it('moves the groups of the change under way and says which phase it is in', async () => {
    const d = await startRingA();
    const prefix = newPrefix();
    const configB = ringBOf(d.config);
    const after = ringOf(configB.shards);
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${d.url}/metrics/job/t/instance/i${i}`, { method: 'PUT', body: 'moved 1\n' });
      expect(res.status).toBe(200);
    }
    const moving = Array.from({ length: 40 }, (_, i) => i).filter((i) => after.ownerOf(keyOf(i)) === 's2');
    expect(moving.length).toBeGreaterThan(0);
    await transitionFor(prefix, d.cluster).beat(); // publishes ring A
    await transitionFor(prefix, clusterOf(configB)).beat(); // starts A -> B

    const dir = await tempDir('pushring-transition-cli-');
    const file = join(dir, 'pushring.yaml');
    const shards = configB.shards.map((s) => `  - { name: ${s.name}, replicas: ["${s.replicas.join('", "')}"] }`);
    await writeFile(file, [`redis: { url: "${redis.url}", keyPrefix: "${prefix}" }`, 'shards:', ...shards].join('\n'));
    const { io, out } = captureIo();
    expect(await main(['reconcile', '--config', file], io)).toBe(0);
    expect(out()).toContain(`${moving.length} difference(s) seen once: looking again`);
    expect(out()).toContain(`ring change, copy phase: ${moving.length} copied to their new owner, 0 stray copies deleted`);
    const onNewShard = (await d.backends[2]![0]!.groups()).map((g) => Number(g.labels['instance']!.slice(1))).sort((x, y) => x - y);
    expect(onNewShard).toEqual(moving);
  });
});
