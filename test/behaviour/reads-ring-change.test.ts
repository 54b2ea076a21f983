/**
 * Reads through the front door while the ring grows live (2 -> 3 shards of 2 real Pushgateways),
 * driven by the real mechanism of resize.test.ts: the change recorded by a local transition, the
 * new ring applied (dual phase), reconciler passes that copy the moving groups, settle the change
 * and delete the strays. Before, during (read between passes and while each pass runs) and after
 * the change, GET /api/v1/metrics and GET /metrics show every group once, although copies sit on
 * two shards, with the values of the latest push (a push made during the dual phase is read, not
 * the older copy), equal to a lone Pushgateway that got the same pushes (push times aside).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGroupingKey } from '../../src/core/grouping-key.js';
import { ringOf } from '../../src/core/ring.js';
import { withDraining } from '../helpers/config.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { normaliseApiMetrics, normaliseExposition, startFrontDoor, type ApiMetrics, type DoorReconciler, type FrontDoor } from './front-door.js';

const GROUPS = 40;
/** Passes the change may take before the test gives up (resize.test.ts converges in a handful). */
const MAX_PASSES = 200;
const CHANGE_DEADLINE_MS = 60_000;
/** Readers looping while a pass runs: a copy landing between two reads of one answer is likelier caught. */
const RACING_READERS = 4;

const canonicalOf = (i: number): string =>
  makeGroupingKey(
    new Map([
      ['job', 'moving'],
      ['instance', `i${i}`],
    ]),
  ).canonical;
const pathOf = (i: number): string => `/metrics/job/moving/instance/i${i}`;
/** Every push of a round carries the round in each family: a stale copy shows as another value. */
const bodyOf = (round: number): string =>
  `# HELP moving_value The round of the latest push.\n# TYPE moving_value gauge\nmoving_value ${round}\n` +
  `# TYPE moving_steps_total counter\nmoving_steps_total{step="a"} ${round}\nmoving_steps_total{step="b"} ${round * 10}\n`;

let lone: Pushgateway;
let door: FrontDoor;
let rc: DoorReconciler;

beforeAll(async () => {
  lone = await startPushgateway();
  // s2 is configured but draining: it owns nothing until the ring grows.
  door = await startFrontDoor({ shards: 3, replicas: 2, drainingShards: [2], reconcile: true, config: { write: { timeoutMs: 5_000 } } });
  rc = door.reconcile!;
}, 60_000);

afterAll(async () => {
  await door?.close();
  await lone?.close();
});

async function put(base: string, path: string, body: string): Promise<number> {
  const res = await fetch(base + path, { method: 'PUT', body, signal: AbortSignal.timeout(10_000) });
  await res.text();
  return res.status;
}

/** One round: every group pushed to the lone Pushgateway and through the front door. */
async function pushRound(round: number): Promise<void> {
  for (let i = 0; i < GROUPS; i++) {
    expect(await put(lone.url, pathOf(i), bodyOf(round)), `lone PUT ${pathOf(i)}`).toBe(200);
    expect(await put(door.url, pathOf(i), bodyOf(round)), `PUT ${pathOf(i)} through pushring in round ${round}`).toBe(200);
  }
}

async function readJson(base: string): Promise<ApiMetrics> {
  const res = await fetch(`${base}/api/v1/metrics`, { signal: AbortSignal.timeout(10_000) });
  expect(res.status, `GET ${base}/api/v1/metrics`).toBe(200);
  return (await res.json()) as ApiMetrics;
}

async function readText(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
  expect(res.status, `GET ${base}/metrics`).toBe(200);
  return res.text();
}

async function status(): Promise<{ phase: string; ringChange: { phase: string } | null; ringVersion: string }> {
  const res = await fetch(`${door.url}/api/v1/status`, { signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { pushring: { phase: string; ringChange: { phase: string } | null; ringVersion: string } } }).data.pushring;
}

/**
 * The front door's two reads as the lone Pushgateway's: every group once, its latest values.
 * The lone Pushgateway's answer is read first: it changes only between rounds.
 */
async function expectReadsAsLone(when: string, round: number): Promise<void> {
  const want = normaliseApiMetrics(await readJson(lone.url));
  const wantText = normaliseExposition(await readText(lone.url));
  const got = await readJson(door.url);
  const labels = got.data.map((g) => JSON.stringify(g['labels']));
  expect(new Set(labels).size, `${when}: every group once in /api/v1/metrics`).toBe(labels.length);
  expect(labels, `${when}: every group in /api/v1/metrics`).toHaveLength(GROUPS);
  const values = got.data.map((g) => (g['moving_value'] as { metrics: { value: string }[] } | undefined)?.metrics[0]?.value);
  expect(new Set(values), `${when}: every group holds round ${round}`).toEqual(new Set([String(round)]));
  expect(normaliseApiMetrics(got), `${when}: /api/v1/metrics as the lone Pushgateway's`).toEqual(want);
  const text = await readText(door.url);
  expect(text.match(/^moving_value\{/gm), `${when}: one moving_value series per group in /metrics`).toHaveLength(GROUPS);
  expect(normaliseExposition(text), `${when}: /metrics as the lone Pushgateway's`).toEqual(wantText);
}

/** Shards holding each group (replica 0 of each shard; the replicas are compared by the reconciler). */
async function holders(): Promise<Map<string, string[]>> {
  const where = new Map<string, string[]>();
  for (const [s, replicas] of door.backends.entries()) {
    for (const g of await replicas[0]!.groups()) {
      const key = JSON.stringify(g.labels);
      where.set(key, [...(where.get(key) ?? []), `s${s}`]);
    }
  }
  return where;
}

describe('reads during a live ring change', () => {
  it('show every group once, with its latest push, before, during and after the ring grows', async () => {
    const grown = withDraining(door.config, []);
    const before = ringOf(door.config.shards);
    const after = ringOf(grown.shards);
    const moving = Array.from({ length: GROUPS }, (_, i) => i).filter((i) => before.ownerOf(canonicalOf(i)) !== after.ownerOf(canonicalOf(i)));
    // Groups move onto s2 only, and some stay: the merge sees old owner, new owner and unmoved shards.
    expect(moving.length, 'groups that move onto s2').toBeGreaterThan(0);
    expect(moving.length).toBeLessThan(GROUPS);
    for (const i of moving) expect(after.ownerOf(canonicalOf(i))).toBe('s2');

    await pushRound(1);
    await expectReadsAsLone('before the change', 1);

    // The change as a reload applies it (resize.test.ts): recorded, then the new ring in force.
    expect(await rc.transition.begin(door.config, grown)).toEqual({ from: door.config.shards });
    door.cluster.applyRing(grown);
    const dual = await status();
    expect(dual.phase).toBe('dual');
    expect(dual.ringChange?.phase).toBe('dual');
    expect(dual.ringVersion).toBe(door.cluster.version);
    await expectReadsAsLone('dual phase, nothing copied yet', 1);

    let round = 1;
    const reconcilerPhases = new Set<string>();
    const statusPhases = new Set<string>();
    let readWithCopiesOnTwoShards = false;
    let readWithStraysAfterSettling = false;
    const deadline = Date.now() + CHANGE_DEADLINE_MS;
    let converged = false;
    for (let pass = 1; pass <= MAX_PASSES && Date.now() < deadline; pass++) {
      const report = await rc.pass();
      reconcilerPhases.add(report.phase);
      const now = await status();
      statusPhases.add(now.phase);
      expect(now.phase).toBe(door.cluster.phase);
      const where = await holders();
      const doubled = [...where.values()].filter((shards) => shards.length > 1).length;
      if (doubled > 0 && door.cluster.phase === 'dual') {
        readWithCopiesOnTwoShards = true;
        if (round === 1) {
          // Copies of the moving groups are on two shards: push every group again. The old
          // owner stays authoritative until the change settles, and both owners are written.
          round = 2;
          await pushRound(round);
        }
      }
      if (doubled > 0 && door.cluster.phase === 'steady') readWithStraysAfterSettling = true;
      await expectReadsAsLone(`after pass ${pass} (reconciler phase ${report.phase}, front door ${now.phase}, ${doubled} groups on two shards)`, round);
      if (round === 2 && door.cluster.phase === 'steady' && report.misplaced === 0 && report.actions.length === 0 && report.migration.length === 0) {
        converged = true;
        break;
      }
    }
    expect(converged, `the ring change to converge within ${MAX_PASSES} passes and ${CHANGE_DEADLINE_MS} ms`).toBe(true);
    expect(readWithCopiesOnTwoShards, 'a read was made while the moving groups had copies on two shards').toBe(true);
    expect(reconcilerPhases, 'the reconciler went through the copy phase').toContain('copy');
    expect(statusPhases, 'GET /api/v1/status showed the change settle').toContain('steady');
    expect(readWithStraysAfterSettling, 'a read was made after the change settled, before its strays were deleted').toBe(true);
    console.info(
      `ring change: ${moving.length} of ${GROUPS} groups moved; reconciler phases ${[...reconcilerPhases].join(', ')}; ` +
        'reads made with copies on two shards and with strays left after settling',
    );

    // Settled and cleaned up: every group on its owner only, read from it.
    const where = await holders();
    for (let i = 0; i < GROUPS; i++)
      expect(where.get(JSON.stringify({ instance: `i${i}`, job: 'moving' })), `group i${i}`).toEqual([after.ownerOf(canonicalOf(i))]);
    const settled = await status();
    expect(settled.phase).toBe('steady');
    expect(settled.ringChange).toBeNull();
    await expectReadsAsLone('after the change', 2);
  }, 120_000);

  it('show every group once while reads race the passes of a second change (s2 drained)', async () => {
    // Runs on the ring the first test grew: s2 now owns groups and is drained again.
    const grown = door.config.shards.every((s) => !s.draining) ? door.config : withDraining(door.config, []);
    const drained = withDraining(grown, ['s2']);
    expect(await rc.transition.begin(grown, drained)).toEqual({ from: grown.shards });
    door.cluster.applyRing(drained);
    expect((await status()).phase).toBe('dual');
    let reads = 0;
    let converged = false;
    const deadline = Date.now() + CHANGE_DEADLINE_MS;
    for (let pass = 1; pass <= MAX_PASSES && Date.now() < deadline; pass++) {
      let passing = true;
      const running = rc.pass().finally(() => (passing = false));
      // Reads, a few at once, for as long as the pass copies, settles or deletes (bounded by the
      // pass, itself bounded by the deadline): no read may show a group twice or miss one.
      let failed = false;
      const readers = await Promise.allSettled(
        Array.from({ length: RACING_READERS }, async () => {
          do {
            await expectReadsAsLone(`a read during pass ${pass} (front door ${door.cluster.phase})`, 2).catch((err: unknown) => {
              failed = true;
              throw err;
            });
            reads++;
          } while (passing && !failed && Date.now() < deadline);
        }),
      );
      // The pass ends before the test does, failed or not: nothing keeps running into teardown.
      const report = await running;
      const failure = readers.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
      if (door.cluster.phase === 'steady' && report.misplaced === 0 && report.actions.length === 0 && report.migration.length === 0) {
        converged = true;
        break;
      }
    }
    expect(converged, `the second change to converge within ${MAX_PASSES} passes and ${CHANGE_DEADLINE_MS} ms`).toBe(true);
    for (const replica of door.backends[2]!) expect(await replica.groups(), 'the drained shard holds nothing').toEqual([]);
    await expectReadsAsLone('after the second change', 2);
    console.info(`${reads} reads raced the passes of the second change`);
  }, 120_000);
});
