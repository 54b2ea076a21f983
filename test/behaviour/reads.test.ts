/**
 * Reads through the front door answer as one Pushgateway holding every group: after the same
 * pushes to a lone Pushgateway and to pushring (2 shards x 2 replicas), GET /api/v1/metrics and
 * GET /metrics give the same groups and series (push times aside), a shard without a live replica
 * makes them 503 naming it, and the blog's cleanup script and a push_time_seconds TTL script,
 * unchanged but for the URL, leave the same groups behind.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGroupingKey } from '../../src/core/grouping-key.js';
import { requireBinary, waitFor } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { createSuspectStore } from '../../src/reconcile/suspects.js';
import { normaliseApiMetrics as normaliseJson, normaliseExposition as normaliseText, startFrontDoor, type FrontDoor } from './front-door.js';

const run = promisify(execFile);
const script = (name: string): string => fileURLToPath(new URL(`../fixtures/reads/${name}`, import.meta.url));

/** The pushes both targets get: several jobs, instances and grouping labels, every type. */
const PUSHES: readonly (readonly [string, string])[] = [
  [
    '/metrics/job/batch/instance/h1',
    '# HELP batch_duration_seconds How long the batch took.\n# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 11\n# TYPE batch_rows_total counter\nbatch_rows_total{table="a"} 5\nbatch_rows_total{table="b"} 7\n',
  ],
  ['/metrics/job/batch/instance/h2', '# HELP batch_duration_seconds How long the batch took.\n# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 3\n'],
  [
    '/metrics/job/backup/env/prod',
    '# TYPE backup_latency_seconds histogram\nbackup_latency_seconds_bucket{le="1"} 2\nbackup_latency_seconds_bucket{le="+Inf"} 3\nbackup_latency_seconds_sum 4.5\nbackup_latency_seconds_count 3\n',
  ],
  [
    '/metrics/job/backup/env/dev',
    '# TYPE backup_size_bytes summary\nbackup_size_bytes{quantile="0.5"} 10\nbackup_size_bytes_sum 30\nbackup_size_bytes_count 2\n',
  ],
  ['/metrics/job@base64/cmVwb3J0IDE=/region/eu', 'report_pages 12\n'],
  ['/metrics/job/gojob/instance/x', '# TYPE go_goroutines gauge\ngo_goroutines 8\n'],
  ['/metrics/job/flaky', 'flaky_runs 1\n'],
  ['/metrics/job/more/instance/a', 'more_things{kind="x\\"y"} 1\n'],
  ['/metrics/job/more/instance/b', 'more_things{kind="z"} 2\n'],
  ['/metrics/job/more/instance/c', 'more_things{kind="w"} 3\n'],
];
/** Refused by every Pushgateway (a sample with a timestamp); it records push_failure_time_seconds. */
const FAILED_PUSH: readonly [string, string] = ['/metrics/job/flaky', 'flaky_runs 2 1000\n'];

let lone: Pushgateway;
let door: FrontDoor;

async function put(base: string, path: string, body: string): Promise<number> {
  const res = await fetch(base + path, { method: 'PUT', body });
  await res.text();
  return res.status;
}

async function pushBoth(pushes: readonly (readonly [string, string])[]): Promise<void> {
  for (const [path, body] of pushes) {
    const [a, b] = [await put(lone.url, path, body), await put(door.url, path, body)];
    expect(b, `PUT ${path} through pushring answers as the lone Pushgateway`).toBe(a);
    if (path !== FAILED_PUSH[0] || body !== FAILED_PUSH[1]) expect(a, `PUT ${path}`).toBe(200);
  }
}

async function readJson(base: string): Promise<{ status: string; data: Record<string, unknown>[] }> {
  const res = await fetch(`${base}/api/v1/metrics`);
  expect(res.status).toBe(200);
  return (await res.json()) as { status: string; data: Record<string, unknown>[] };
}

async function groupLabels(base: string): Promise<string[]> {
  return (await readJson(base)).data.map((g) => JSON.stringify(g['labels'])).sort();
}

beforeAll(async () => {
  requireBinary('jq');
  requireBinary('curl');
  lone = await startPushgateway();
  door = await startFrontDoor({ shards: 2, replicas: 2 });
}, 60_000);

afterAll(async () => {
  await door?.close();
  await lone?.close();
});

describe('reads through the front door', () => {
  it('GET /api/v1/metrics and GET /metrics equal a lone Pushgateway after the same pushes', async () => {
    await pushBoth(PUSHES);
    await pushBoth([FAILED_PUSH]);
    // Both shards hold some of the groups, or the merge would not be tested.
    for (const replicas of door.backends) expect((await replicas[0]!.groups()).length).toBeGreaterThan(0);
    const want = normaliseJson(await readJson(lone.url));
    await waitFor(async () => JSON.stringify(normaliseJson(await readJson(door.url))) === JSON.stringify(want), {
      what: 'the front door JSON to equal the lone Pushgateway',
    }).catch(() => undefined);
    expect(normaliseJson(await readJson(door.url))).toEqual(want);
    expect((want as { data: unknown[] }).data).toHaveLength(PUSHES.length);

    const text = async (base: string): Promise<string> => {
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      return res.text();
    };
    const wantText = normaliseText(await text(lone.url));
    expect(Object.keys(wantText)).toContain('push_failure_time_seconds');
    expect(normaliseText(await text(door.url))).toEqual(wantText);
    // None of a replica's own series: they describe one replica, not the ring.
    expect(await text(door.url)).not.toMatch(/^pushgateway_build_info/m);
  });

  it('leaves out a copy of a group held by a shard that does not own it (a ring change leftover)', async () => {
    const canonical = makeGroupingKey(
      new Map([
        ['job', 'batch'],
        ['instance', 'h1'],
      ]),
    ).canonical;
    const owner = door.cluster.ownerOf(canonical).name;
    const other = door.backends[owner === 's0' ? 1 : 0]!;
    for (const b of other)
      expect(
        await put(
          b.url,
          '/metrics/job/batch/instance/h1',
          '# HELP batch_duration_seconds How long the batch took.\n# TYPE batch_duration_seconds gauge\nbatch_duration_seconds 99\nstray_only 1\n',
        ),
      ).toBeLessThan(300);
    await waitFor(async () => (await other[0]!.groups()).some((g) => g.labels['job'] === 'batch' && g.labels['instance'] === 'h1'), {
      what: 'the stray copy to be stored',
    });
    expect(normaliseJson(await readJson(door.url))).toEqual(normaliseJson(await readJson(lone.url)));
    const text = await (await fetch(`${door.url}/metrics`)).text();
    expect(text).not.toContain('stray_only');
    expect(text).not.toMatch(/batch_duration_seconds\{[^}]*\} 99/);
    expect(normaliseText(text)).toEqual(normaliseText(await (await fetch(`${lone.url}/metrics`)).text()));
  });

  it("the blog's cleanup script and a push_time_seconds TTL script leave the same groups on both", async () => {
    const t0 = Date.now();
    const generation = (name: string): [string, string][] => [
      [`/metrics/job/${name}/instance/i1`, `${name}_done 1\n`],
      [`/metrics/job/${name}/instance/i2/team/t`, `${name}_done 2\n`],
    ];
    await pushBoth(generation('ancient'));
    // Push times are whole seconds apart only by waiting for the clock.
    await waitFor(async () => Date.now() - t0 >= 4_000, { what: 'four seconds to pass', timeoutMs: 10_000, intervalMs: 100 });
    await pushBoth(generation('old'));
    await waitFor(async () => Date.now() - t0 >= 8_000, { what: 'eight seconds to pass', timeoutMs: 10_000, intervalMs: 100 });
    await pushBoth(generation('fresh'));
    const groupsBefore = await groupLabels(lone.url);
    expect(await groupLabels(door.url)).toEqual(groupsBefore);

    // TTL 6 s: the ancient groups (pushed ~8 s ago) go.
    for (const base of [lone.url, door.url]) await run('bash', [script('ttl.sh'), base, '6']);
    // Every older group goes as well (the first test's), but for one whose job has a space: the
    // script does not escape it, on either target.
    const afterTtl = groupsBefore.filter((g) => g.includes('"old"') || g.includes('"fresh"') || g.includes('"report 1"'));
    expect(afterTtl).toHaveLength(5);
    for (const base of [lone.url, door.url])
      await waitFor(async () => JSON.stringify(await groupLabels(base)) === JSON.stringify(afterTtl), { what: `${base}: the TTL script's deletes` }).catch(
        () => undefined,
      );
    for (const base of [lone.url, door.url]) expect(await groupLabels(base), base).toEqual(afterTtl);

    // Older than 2 s: the old groups go too (and every group PUSHES made).
    for (const base of [lone.url, door.url]) await run('bash', [script('cleanup.sh'), base, '2']);
    const fresh = groupsBefore.filter((g) => g.includes('"fresh"'));
    for (const base of [lone.url, door.url])
      await waitFor(async () => JSON.stringify(await groupLabels(base)) === JSON.stringify(fresh), { what: `${base}: the cleanup script's deletes` });
    expect(await groupLabels(door.url)).toEqual(await groupLabels(lone.url));
  }, 60_000);

  it("GET /-/api/groups lists each group once with its owner's shard, filtered by a job glob and bounded", async () => {
    type Row = { job: string; labels: Record<string, string>; shard: string; lastPush: number | null; lastFailure: number | null; failed: boolean };
    type List = { now: number; groups: Row[]; matched: number; complete: boolean; unreadShards: unknown[] };
    const list = async (query = ''): Promise<List> => {
      const res = await fetch(`${door.url}/-/api/groups${query}`);
      expect(res.status).toBe(200);
      return (await res.json()) as List;
    };
    await put(door.url, '/metrics/job/listed/instance/a', 'listed_x 1\n');
    await put(door.url, '/metrics/job/listed/instance/b', 'listed_x 2\n');
    await put(door.url, '/metrics/job/listed-not/instance/c', 'listed_y 2\n');
    await put(door.url, '/metrics/job/listed-failing', 'listed_z 1\n');
    expect(await put(door.url, '/metrics/job/listed-failing', 'listed_z 2 1000\n'), 'a sample with a time stamp is refused').toBe(400);
    const all = await list();
    expect(all.complete).toBe(true);
    const everyGroup = (await readJson(door.url)).data.map((g) => g['labels'] as Record<string, string>);
    expect(all.matched).toBe(everyGroup.length);
    expect(all.groups.map((r) => JSON.stringify({ job: r.job, ...r.labels })).sort()).toEqual(
      everyGroup.map((l) => JSON.stringify({ job: l['job'], ...Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'job')) })).sort(),
    );
    for (const row of all.groups) {
      const canonical = makeGroupingKey(new Map([['job', row.job], ...Object.entries(row.labels)])).canonical;
      expect(row.shard, `${row.job} ${JSON.stringify(row.labels)}`).toBe(door.cluster.ownerOf(canonical).name);
      expect(row.lastPush === null || Math.abs(row.lastPush * 1000 - all.now) < 600_000).toBe(true);
    }
    // In order of job, then labels.
    expect(all.groups.map((r) => r.job)).toEqual([...all.groups.map((r) => r.job)].sort());
    const flaky = all.groups.find((r) => r.job === 'listed-failing')!;
    expect(flaky.failed).toBe(true);
    expect(flaky.lastFailure).toBeGreaterThan(flaky.lastPush!);

    const listed = await list('?job=listed');
    expect(listed.groups.map((r) => r.labels['instance'])).toEqual(['a', 'b']);
    expect(listed.matched).toBe(2);
    const glob = await list('?job=listed*&limit=2');
    expect(glob.matched).toBe(4);
    expect(glob.groups.map((r) => `${r.job}/${r.labels['instance']}`)).toEqual(['listed/a', 'listed/b']);
    const bad = await fetch(`${door.url}/-/api/groups?limit=0`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-pushring-error')).toBe('PUSHRING_BAD_QUERY');
    expect(await bad.text()).toContain('limit must be a whole number from 1 to 5000');
  });

  it('GET /-/api/refusals lists the writes recently refused, newest first, with no secret', async () => {
    const before = Date.now();
    const reserved = await fetch(`${door.url}/metrics/job/refused/shard/x`, {
      method: 'PUT',
      body: 'a 1\n',
      headers: { authorization: 'Bearer sEcReT-tOkEn' },
    });
    expect(reserved.status).toBe(400);
    const inconsistent = await fetch(`${door.url}/metrics/job/refused2`, { method: 'PUT', body: 'a{job="x"} 1\nbroken line\n' });
    expect(inconsistent.status).toBe(400);
    const res = await fetch(`${door.url}/-/api/refusals`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain('sEcReT');
    const { refusals } = JSON.parse(text) as { refusals: { at: string; job: string; status: number; code: string | null; message: string; method: string }[] };
    expect(refusals[0]).toMatchObject({ job: 'refused2', status: 400, method: 'PUT' });
    expect(refusals[0]!.message).not.toBe('');
    expect(refusals[1]).toMatchObject({ job: 'refused', status: 400, code: 'PUSHRING_RESERVED_LABEL' });
    expect(refusals[1]!.message).toContain('reserved');
    expect(Date.parse(refusals[0]!.at)).toBeGreaterThanOrEqual(before - 1000);
    // A read is not a refusal, nor a push that was stored.
    expect(refusals.some((r) => r.job === 'listed')).toBe(false);
    // An administrative path spelled with percent-encoding is one too (as auth judges it).
    const encoded = await fetch(`${door.url}/api/v1/%61dmin/wipe?dry_run=maybe`, { method: 'PUT' });
    expect(encoded.status).toBeGreaterThanOrEqual(400);
    await encoded.text();
    const after = (await (await fetch(`${door.url}/-/api/refusals`)).json()) as { refusals: { path: string; status: number }[] };
    expect(after.refusals[0]).toMatchObject({ path: '/api/v1/%61dmin/wipe', status: encoded.status });
  });

  it('answers 503 naming a shard whose replicas are both stopped, and the scripts fail', async () => {
    for (const b of door.backends[1]!) await b.kill();
    const json = await fetch(`${door.url}/api/v1/metrics`);
    expect(json.status).toBe(503);
    expect(json.headers.get('x-pushring-error')).toBe('PUSHRING_READ_INCOMPLETE');
    const body = (await json.json()) as { status: string; shards: string[]; error: string };
    expect(body.status).toBe('error');
    expect(body.shards).toEqual(['s1']);
    expect(body.error).toContain('s1');
    const text = await fetch(`${door.url}/metrics`);
    expect(text.status).toBe(503);
    expect(await text.text()).toContain('s1');
    await expect(run('bash', [script('cleanup.sh'), door.url, '0'])).rejects.toThrow();
    await expect(run('bash', [script('ttl.sh'), door.url, '0'])).rejects.toThrow();
    const status = (await (await fetch(`${door.url}/api/v1/status`)).json()) as {
      status: string;
      data: { pushring: { shards: { name: string }[]; ringVersion: string } };
    };
    expect(status.status).toBe('success');
    expect(status.data.pushring.shards.map((s) => s.name)).toEqual(['s0', 's1']);
    expect(status.data.pushring.ringVersion).toBe(door.cluster.version);
    // The page's list says what it lacks rather than show fewer groups as if that were all (its
    // own query: the default one may be served again from the last 5 s).
    const list = (await (await fetch(`${door.url}/-/api/groups?limit=400`)).json()) as {
      complete: boolean;
      unreadShards: { shard: string }[];
      groups: { shard: string }[];
    };
    expect(list.complete).toBe(false);
    expect(list.unreadShards.map((u) => u.shard)).toEqual(['s1']);
    expect(list.groups.length).toBeGreaterThan(0);
    expect(list.groups.every((g) => g.shard === 's0')).toBe(true);
    const head = await fetch(`${door.url}/metrics`, { method: 'HEAD' });
    expect(head.status, 'as a Pushgateway answers HEAD /metrics').toBe(405);
  });
});

describe('a shard with a suspect replica', () => {
  const suspects = createSuspectStore();
  let pair: FrontDoor;
  beforeAll(async () => {
    pair = await startFrontDoor({ shards: 1, replicas: 2, suspects });
  }, 60_000);
  afterAll(async () => {
    await pair?.close();
  });

  it('is read from its trusted twin: a write the suspect one missed is not hidden', async () => {
    expect(await put(pair.url, '/metrics/job/both', 'both 1\n')).toBe(200);
    // Replica 0 missed this one (it was stored on replica 1 alone).
    expect(await put(pair.backends[0]![1]!.url, '/metrics/job/missed', 'missed 1\n')).toBe(200);
    const jobs = async (): Promise<string[]> => (await readJson(pair.url)).data.map((g) => (g['labels'] as Record<string, string>)['job']!).sort();
    const textHas = async (): Promise<boolean> => (await (await fetch(`${pair.url}/metrics`)).text()).includes('missed{');
    // Unmarked, the first replica is read: it lacks the write.
    expect(await jobs()).toEqual(['both']);
    suspects.mark('s0/0', Date.now());
    expect(await jobs()).toEqual(['both', 'missed']);
    expect(await textHas()).toBe(true);
    const status = (await (await fetch(`${pair.url}/-/status`)).json()) as { shards: { replicas: { replica: string; suspect: boolean }[] }[] };
    expect(status.shards[0]!.replicas.map((r) => r.suspect)).toEqual([true, false]);
    // Read from its trusted twin, the answer is whole: no header.
    expect((await fetch(`${pair.url}/api/v1/metrics`)).headers.get('x-pushring-suspect-replicas')).toBeNull();
    // Both suspect: the first is read, and the answer says which replica it came from.
    suspects.mark('s0/1', Date.now());
    for (const path of ['/api/v1/metrics', '/metrics']) {
      const res = await fetch(pair.url + path);
      await res.text();
      expect(res.status).toBe(200);
      expect(res.headers.get('x-pushring-suspect-replicas'), path).toBe('s0/0');
    }
  });
});

describe('a read cut off mid-way', () => {
  let big: FrontDoor;
  beforeAll(async () => {
    big = await startFrontDoor({ shards: 2, replicas: 2, pushgatewayArgs: ['--push.disable-consistency-check'] });
  }, 60_000);
  afterAll(async () => {
    await big?.close();
  });

  it('is aborted, never ended as if complete, when a shard fails after its part began', async () => {
    // Far more than loopback socket buffers hold: killing shard s1's replicas loses most of its answer.
    const body = Array.from({ length: 2_000 }, (_, i) => `big_series{n="${i}",pad="${'x'.repeat(40)}"} ${i}`).join('\n') + '\n';
    const jobs: string[] = [];
    for (let i = 0; jobs.length < 150; i++) {
      const job = `big${i}`;
      if (big.cluster.ownerOf(makeGroupingKey(new Map([['job', job]])).canonical).name === 's1') jobs.push(job);
    }
    for (const job of jobs) for (const b of big.backends[1]!) expect(await put(b.url, `/metrics/job/${job}`, body)).toBeLessThan(300);
    await waitFor(async () => (await big.backends[1]![0]!.groups()).length === jobs.length && (await big.backends[1]![1]!.groups()).length === jobs.length, {
      what: 'shard s1 to hold its groups',
      timeoutMs: 60_000,
    });
    const res = await fetch(`${big.url}/api/v1/metrics`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    for (const b of big.backends[1]!) await b.kill();
    const rest = (async () => {
      for (;;) if ((await reader.read()).done) return 'ended';
    })();
    await expect(rest).rejects.toThrow();
  }, 120_000);
});

describe('reads within server.maxConcurrentReads', () => {
  let door1: FrontDoor;
  beforeAll(async () => {
    door1 = await startFrontDoor({
      shards: 1,
      replicas: 1,
      pushgatewayArgs: ['--push.disable-consistency-check'],
      config: { server: { maxConcurrentReads: 1 } },
    });
  }, 60_000);
  afterAll(async () => {
    await door1?.close();
  });

  it('makes a read over server.maxConcurrentReads wait for a place, then answers it 503 PUSHRING_READS_BUSY; the page has its own place', async () => {
    // Far more than loopback socket buffers hold: a reader that stops reading keeps its answer open.
    const body = Array.from({ length: 2_000 }, (_, i) => `held_series{n="${i}",pad="${'x'.repeat(40)}"} ${i}`).join('\n') + '\n';
    const replica = door1.backends[0]![0]!;
    for (let i = 0; i < 80; i++) expect(await put(replica.url, `/metrics/job/held${i}`, body)).toBeLessThan(300);
    await waitFor(async () => (await replica.groups()).length === 80, { what: 'the replica to hold its groups', timeoutMs: 60_000 });

    const hold = async (): Promise<ReadableStreamDefaultReader<Uint8Array>> => {
      const held = await fetch(`${door1.url}/metrics`);
      expect(held.status).toBe(200);
      const reader = held.body!.getReader();
      await reader.read();
      return reader;
    };
    const first = await hold();
    // Waiting its few seconds for the place, then refused: both kinds of read, with Retry-After.
    const [busy, text] = await Promise.all([fetch(`${door1.url}/api/v1/metrics`), fetch(`${door1.url}/metrics`)]);
    expect(busy.status).toBe(503);
    expect(busy.headers.get('x-pushring-error')).toBe('PUSHRING_READS_BUSY');
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(((await busy.json()) as { status: string; error: string }).error).toContain('server.maxConcurrentReads');
    expect(text.status).toBe(503);
    expect(await text.text()).toContain('retry in a second');

    // The page's list has a place of its own: scripts' reads never wait for the page, nor it for them.
    const list = await fetch(`${door1.url}/-/api/groups?limit=1`);
    expect(list.status).toBe(200);
    expect(((await list.json()) as { matched: number }).matched).toBe(80);
    // The reconciler's, the judge's and the administrative reads have connections of their own.
    const dryRun = await fetch(`${door1.url}/api/v1/admin/wipe?dry_run=true`, { method: 'PUT' });
    expect(dryRun.status).toBe(200);
    expect(((await dryRun.json()) as { matched: number }).matched).toBe(80);

    // A read that waits gets the place once the reader holding it goes.
    const waiting = fetch(`${door1.url}/api/v1/metrics`);
    await first.cancel();
    const served = await waiting;
    expect(served.status).toBe(200);
    expect(((await served.json()) as { data: unknown[] }).data).toHaveLength(80);
  }, 120_000);
});
