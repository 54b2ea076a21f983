/**
 * The safety net, with real Pushgateways run with --push.disable-consistency-check: a replica
 * poisoned behind pushring's back (direct pushes whose groups clash) answers GET /metrics with 500
 * while /-/healthy stays 200; pushring checks every replica's scrape, reports it, and heals it.
 */
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findInconsistentGroups, type StoredGroup } from '../../src/core/judge.js';
import { VALUE_COUNTER, VALUE_GAUGE, type MetricType } from '../../src/core/push-body.js';
import { chooseFixes, findCulprits, type FindInconsistent, type HealCandidate } from '../../src/reconcile/heal.js';
import { waitFor, type ManagedProcess } from '../helpers/processes.js';
import { startPushgateway, type Pushgateway } from '../helpers/pushgateway.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startServe } from '../helpers/serve-doors.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

const UNCHECKED = ['--push.disable-consistency-check'];

let door: FrontDoor | undefined;
afterEach(async () => {
  await door?.close();
  door = undefined;
});

/** A direct push to one Pushgateway, behind pushring's back. */
async function pushDirect(backend: Pushgateway, method: 'PUT' | 'DELETE', path: string, body?: string): Promise<void> {
  const res = await fetch(backend.url + path, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'text/plain' } }) });
  await res.body?.cancel();
  expect(res.status, `${method} ${path} on ${backend.url}`).toBe(202);
}

async function scrapeStatus(backend: Pushgateway): Promise<number> {
  const res = await fetch(`${backend.url}/metrics`);
  await res.body?.cancel();
  return res.status;
}

/** Groups A (`foo` a gauge) and B (`foo` a counter), pushed in that order: B clashes with A. */
async function poison(backend: Pushgateway): Promise<void> {
  await pushDirect(backend, 'PUT', '/metrics/job/poison_a', '# TYPE foo gauge\nfoo 1\n');
  // Unchecked, it answers 202 and stores later: A must be older than B.
  await waitFor(async () => (await backend.groups()).some((g) => g.labels['job'] === 'poison_a'), { what: 'group A stored' });
  await pushDirect(backend, 'PUT', '/metrics/job/poison_b', '# TYPE foo counter\nfoo 1\n');
  await waitFor(async () => (await scrapeStatus(backend)) === 500, { what: `GET ${backend.url}/metrics to answer 500` });
}

/** The value of one series of the front door's own metrics, or undefined when it has none. */
async function selfMetric(url: string, series: string): Promise<string | undefined> {
  const text = await (await fetch(`${url}/-/metrics`)).text();
  return text
    .split('\n')
    .find((line) => line.startsWith(series + ' '))
    ?.slice(series.length + 1);
}

describe('the scrape check', () => {
  it('reports a replica whose groups clash as scrape_ok 0, still up and taking writes, and 1 again once they no longer clash', async () => {
    door = await startFrontDoor({
      shards: 1,
      pushgatewayArgs: UNCHECKED,
      config: { write: { timeoutMs: 5_000 }, health: { intervalMs: 200, timeoutMs: 2_000, scrapeIntervalMs: 200 } },
    });
    const d = door;
    const [poisoned, twin] = d.backends[0]!;
    const ok = (replica: string) => `pushring_backend_scrape_ok{shard="s0",replica="${replica}"}`;
    await waitFor(async () => (await selfMetric(d.url, ok('0'))) === '1' && (await selfMetric(d.url, ok('1'))) === '1', {
      what: 'both replicas checked ok',
    });

    await poison(poisoned!);
    await waitFor(async () => (await selfMetric(d.url, ok('0'))) === '0', { what: 'scrape_ok 0 for the poisoned replica' });
    expect(await selfMetric(d.url, ok('1'))).toBe('1');
    // Its /-/healthy still answers 200: up, and it takes writes.
    expect(await selfMetric(d.url, 'pushring_replica_up{shard="s0",replica="0",url="' + poisoned!.url + '"}')).toBe('1');
    const res = await send(d.url, { method: 'PUT', path: '/metrics/job/after', headers: { 'content-type': 'text/plain' }, body: 'bar 1\n' });
    expect(res.status).toBeLessThan(300);
    await waitFor(async () => (await poisoned!.groups()).some((g) => g.labels['job'] === 'after'), { what: 'a later push stored on the poisoned replica' });
    await waitFor(async () => (await twin!.groups()).some((g) => g.labels['job'] === 'after'), { what: 'a later push stored on its twin' });

    await pushDirect(poisoned!, 'DELETE', '/metrics/job/poison_b');
    await waitFor(async () => (await selfMetric(d.url, ok('0'))) === '1', { what: 'scrape_ok 1 again' });
  });

  it('has no scrape_ok series for a replica that does not answer', async () => {
    door = await startFrontDoor({
      shards: 1,
      pushgatewayArgs: UNCHECKED,
      config: { health: { intervalMs: 200, timeoutMs: 500, scrapeIntervalMs: 200 } },
    });
    const d = door;
    const series = 'pushring_backend_scrape_ok{shard="s0",replica="1"}';
    await waitFor(async () => (await selfMetric(d.url, series)) === '1', { what: 'replica 1 checked ok' });
    await d.backends[0]![1]!.kill();
    await waitFor(async () => (await selfMetric(d.url, series)) === undefined, { what: 'no series for the killed replica' });
    expect(await selfMetric(d.url, 'pushring_backend_scrape_ok{shard="s0",replica="0"}')).toBe('1');
  });
});

/**
 * Healing, through a real `pushring serve` (its scrape checks, its reconcile loop with an interval
 * of an hour, so that only a broken scrape brings a pass on) over a real redis-server: the lease
 * decides which front door heals.
 */
describe('healing a broken scrape', () => {
  let redis: RedisServer | undefined;
  let client: Redis | undefined;
  const started: Array<ManagedProcess | Pushgateway> = [];
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterEach(async () => {
    for (const p of started.splice(0)) {
      if ('close' in p) await p.close();
      else {
        p.kill();
        await p.exited;
      }
    }
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.close();
  });

  const startBackends = async (firstArgs: string[] = []): Promise<[Pushgateway, Pushgateway]> => {
    const pair = await Promise.all([startPushgateway({ args: [...UNCHECKED, ...firstArgs] }), startPushgateway({ args: UNCHECKED })]);
    started.push(...pair);
    return pair;
  };

  /** A front door over shard `a` of the two backends; its log is JSON lines. */
  const startHealingServe = async (prefix: string, replicas: [Pushgateway, Pushgateway]): Promise<{ url: string; log: () => Promise<object[]> }> => {
    const door = await startServe({
      redisUrl: redis!.url,
      prefix,
      replicas,
      lines: [
        'log: { level: info }',
        'write: { timeoutMs: 5000 }',
        'health: { intervalMs: 200, timeoutMs: 2000, scrapeIntervalMs: 200 }',
        'reconcile: { intervalSeconds: 3600 }',
      ],
    });
    started.push(door.process);
    const log = async (): Promise<object[]> =>
      (await readFile(door.logFile, 'utf8'))
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as object);
    return { url: door.url, log };
  };

  const isHealLine = (line: object): boolean => (line as { msg?: string }).msg?.startsWith('healed a replica whose scrape was broken') === true;
  const jobsOf = async (backend: Pushgateway): Promise<string[]> => (await backend.groups()).map((g) => g.labels['job']!).sort();
  const heals = (url: string, action: string) => selfMetric(url, `pushring_scrape_heals_total{shard="a",action="${action}"}`);

  it('deletes the clashing group its twin lacks, only once it holds the lease, and logs and counts it', async () => {
    const backends = await startBackends();
    const [r0, r1] = backends;
    // Another front door holds the lease: it is the one to heal, not this one.
    await client!.set('heal1:reconcile-lease', 'another front door', 'PX', 600_000);
    const monitor = await client!.monitor();
    let askedForLease = 0;
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'eval' && args.includes('heal1:reconcile-lease')) askedForLease++;
    });
    await poison(r0);
    const door = await startHealingServe('heal1:', backends);

    await waitFor(async () => (await selfMetric(door.url, 'pushring_backend_scrape_ok{shard="a",replica="0"}')) === '0', {
      what: 'the front door to report the broken scrape',
    });
    expect(await selfMetric(door.url, 'pushring_backend_scrape_ok{shard="a",replica="1"}')).toBe('1');
    // The broken scrape brings a pass on, which asks for the lease and is refused: no heal.
    const asked = askedForLease;
    await waitFor(async () => askedForLease > asked, { what: 'the front door to ask for the lease' });
    monitor.disconnect();
    expect(await client!.get('heal1:reconcile-lease')).toBe('another front door');
    expect(await scrapeStatus(r0)).toBe(500);
    expect(await heals(door.url, 'removed')).toBe('0');

    await client!.del('heal1:reconcile-lease');
    await waitFor(async () => (await scrapeStatus(r0)) === 200, { what: 'the broken replica to be healed', timeoutMs: 30_000 });
    // B, pushed after A and absent from the twin, is the group that went.
    expect(await jobsOf(r0)).toEqual(['poison_a']);
    await waitFor(async () => (await heals(door.url, 'removed')) === '1', { what: 'the heal counted' });
    expect(await heals(door.url, 'copied_from_twin')).toBe('0');
    await waitFor(async () => (await selfMetric(door.url, 'pushring_backend_scrape_ok{shard="a",replica="0"}')) === '1', {
      what: 'the front door to report the scrape ok',
    });
    const logged = (await door.log()).filter(isHealLine);
    expect(logged).toEqual([
      expect.objectContaining({
        shard: 'a',
        replica: '0',
        group: expect.stringContaining('poison_b'),
        action: 'removed',
        why: expect.stringContaining('the twin does not hold it'),
      }),
    ]);
    // The heal came before the shard's repairs: the twin got A from it, never B.
    await waitFor(async () => (await jobsOf(r1)).includes('poison_a'), { what: 'the twin repaired with group A' });
    expect(await jobsOf(r1)).toEqual(['poison_a']);
    expect(await scrapeStatus(r1)).toBe(200);
  });

  it("sets the clashing group right from its twin's consistent copy", async () => {
    const backends = await startBackends();
    const [r0, r1] = backends;
    for (const b of backends) {
      await pushDirect(b, 'PUT', '/metrics/job/poison_a', '# TYPE foo gauge\nfoo 1\n');
      await pushDirect(b, 'PUT', '/metrics/job/poison_b', '# TYPE bar gauge\nbar 2\n');
      await waitFor(async () => (await jobsOf(b)).length === 2, { what: `both groups on ${b.url}` });
    }
    // Behind pushring's back, B on replica 0 alone now holds foo as a counter: it clashes with A.
    await pushDirect(r0, 'PUT', '/metrics/job/poison_b', '# TYPE foo counter\nfoo 1\n');
    await waitFor(async () => (await scrapeStatus(r0)) === 500, { what: 'GET /metrics on replica 0 to answer 500' });
    const door = await startHealingServe('heal2:', backends);

    await waitFor(async () => (await scrapeStatus(r0)) === 200, { what: 'the broken replica to be healed', timeoutMs: 30_000 });
    const b = (await r0.groups()).find((g) => g.labels['job'] === 'poison_b');
    expect(Object.keys(b?.metrics ?? {})).toEqual(['bar']);
    expect(b?.metrics['bar']?.metrics[0]?.['value']).toBe('2');
    expect(await jobsOf(r0)).toEqual(['poison_a', 'poison_b']);
    expect(JSON.stringify(await r0.groups())).toBe(JSON.stringify(await r1.groups()));
    await waitFor(async () => (await heals(door.url, 'copied_from_twin')) === '1', { what: 'the copy counted' });
    expect(await heals(door.url, 'removed')).toBe('0');
    expect((await door.log()).filter(isHealLine)).toEqual([
      expect.objectContaining({ shard: 'a', replica: '0', group: expect.stringContaining('poison_b'), action: 'copied_from_twin' }),
    ]);
  });

  it('deletes the later of two groups whose labels are the same once the Pushgateway adds instance=""', async () => {
    const backends = await startBackends();
    const [r0, r1] = backends;
    // The known poison push: its push_time_seconds series is the other group's.
    await pushDirect(r0, 'PUT', '/metrics/job/twice', '# TYPE foo gauge\nfoo 1\n');
    await waitFor(async () => (await jobsOf(r0)).includes('twice'), { what: 'the first group stored' });
    await pushDirect(r0, 'PUT', '/metrics/job/twice/instance@base64/=', '# TYPE bar gauge\nbar 1\n');
    await waitFor(async () => (await scrapeStatus(r0)) === 500, { what: 'GET /metrics on replica 0 to answer 500' });
    const door = await startHealingServe('heal4:', backends);

    await waitFor(async () => (await scrapeStatus(r0)) === 200, { what: 'the broken replica to be healed', timeoutMs: 30_000 });
    expect((await r0.groups()).map((g) => g.labels)).toEqual([{ job: 'twice' }]);
    await waitFor(async () => (await heals(door.url, 'removed')) === '1', { what: 'the heal counted' });
    expect((await door.log()).filter(isHealLine)).toEqual([
      expect.objectContaining({ shard: 'a', replica: '0', group: '{instance="",job="twice"}', action: 'removed' }),
    ]);
    await waitFor(async () => (await jobsOf(r1)).includes('twice'), { what: 'the twin repaired with the first group' });
    expect((await r1.groups()).map((g) => g.labels)).toEqual([{ job: 'twice' }]);
    expect(await scrapeStatus(r1)).toBe(200);
  });

  it('tries a replica it cannot help three times, then leaves it to the alert', async () => {
    // Its scrape is elsewhere: GET /metrics answers 404, as it does to Prometheus, and no group clashes.
    const backends = await startBackends(['--web.telemetry-path=/elsewhere']);
    const door = await startHealingServe('heal3:', backends);
    const unhealed = async () => (await door.log()).filter((line) => 'attempts' in line) as Array<{ attempts: number; retry: boolean; reason: string }>;
    await waitFor(async () => (await unhealed()).some((line) => !line.retry), { what: 'the front door to give up', timeoutMs: 30_000 });
    expect((await unhealed()).map((line) => [line.attempts, line.retry])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect((await unhealed())[0]!.reason).toContain('404');
    expect(await selfMetric(door.url, 'pushring_backend_scrape_ok{shard="a",replica="0"}')).toBe('0');
    expect(await heals(door.url, 'removed')).toBe('0');
  });
});

/** A stand-in for the judge that knows one rule: one type per metric name. */
const typeClash: FindInconsistent = (groups) => {
  const types = new Map<string, MetricType>();
  const culprits: number[] = [];
  groups.forEach((g, i) => {
    if (g.families.some((f) => (types.get(f.name) ?? f.type) !== f.type)) return culprits.push(i);
    for (const f of g.families) types.set(f.name, f.type);
  });
  return culprits;
};

/**
 * The heal's decisions, over the judge and over the stand-in: the order groups are weighed in and
 * what is done with each culprit are the heal's own, whatever finds the clashes.
 */
describe.each<[string, FindInconsistent]>([
  ['the judge', findInconsistentGroups],
  ['a stand-in judge', typeClash],
])('planning a heal, over %s', (_judge, find) => {
  // As a backend holds it (core/judge storedGroupOf): the group's labels on every metric.
  const stored = (group: string, type: 'GAUGE' | 'COUNTER', name = 'foo'): StoredGroup => ({
    group,
    labels: [['job', group]],
    families: [
      {
        name,
        help: '',
        type,
        metrics: [
          {
            labels: [
              ['instance', ''],
              ['job', group],
            ],
            values: type === 'GAUGE' ? VALUE_GAUGE : VALUE_COUNTER,
            hasTimestamp: false,
          },
        ],
      },
    ],
  });
  const held = (group: string, type: 'GAUGE' | 'COUNTER', since: number, name = 'foo'): HealCandidate => ({
    canonical: group,
    stored: stored(group, type, name),
    content: `${name}:${type}`,
    since,
  });
  /** The twin's copies; `other` makes a copy's content differ from this replica's with the same family. */
  type Twin = Record<string, { type: 'GAUGE' | 'COUNTER'; name?: string; other?: true }>;
  const plan = (groups: HealCandidate[], twin: Twin | undefined) => {
    const content =
      twin === undefined ? undefined : new Map(Object.entries(twin).map(([g, v]) => [g, `${v.name ?? 'foo'}:${v.type}${v.other ? ' (other values)' : ''}`]));
    const { kept, culprits } = findCulprits(groups, content, find);
    const versions = new Map(
      culprits
        .filter((c) => twin?.[c.canonical] !== undefined && content?.get(c.canonical) !== c.content)
        .map((c) => [c.canonical, stored(c.canonical, twin![c.canonical]!.type, twin![c.canonical]!.name)]),
    );
    const fixes = chooseFixes(kept, culprits, content === undefined ? undefined : { content, versions }, find);
    return fixes.map((f) => `${f.kind} ${f.canonical}: ${f.why.split('; ')[1]}`);
  };

  it.each<[string, HealCandidate[], Twin | undefined, string[]]>([
    ['the later of two clashing groups goes, no twin read', [held('a', 'GAUGE', 1), held('b', 'COUNTER', 2)], undefined, ['remove b: no twin could be read']],
    ['by push time, whatever the listing order', [held('b', 'COUNTER', 1), held('a', 'GAUGE', 2)], {}, ['remove a: the twin does not hold it']],
    [
      'a group the twin holds alike is kept over an older one only this replica holds',
      [held('a', 'GAUGE', 1), held('b', 'COUNTER', 2)],
      { b: { type: 'COUNTER' } },
      ['remove a: the twin does not hold it'],
    ],
    [
      "the twin's consistent copy replaces the culprit",
      [held('a', 'GAUGE', 1), held('b', 'COUNTER', 2)],
      { a: { type: 'GAUGE' }, b: { type: 'GAUGE', name: 'bar' } },
      ["copy b: the twin's copy is consistent with them"],
    ],
    [
      "the twin's copy clashing too is no help",
      [held('a', 'GAUGE', 1), held('b', 'COUNTER', 2)],
      { b: { type: 'COUNTER', other: true } },
      ["remove b: the twin's copy is inconsistent with them too"],
    ],
    [
      'a twin poisoned alike: the later group goes from both',
      [held('a', 'GAUGE', 1), held('b', 'COUNTER', 2)],
      { a: { type: 'GAUGE' }, b: { type: 'COUNTER' } },
      ['remove b: the twin holds the same copy'],
    ],
    [
      "two twin copies that clash with each other: the first one's culprit is replaced, the other removed",
      [held('a', 'GAUGE', 1), held('b', 'COUNTER', 2), held('c', 'COUNTER', 3)],
      { b: { type: 'GAUGE', name: 'bar' }, c: { type: 'COUNTER', name: 'bar' } },
      ["copy b: the twin's copy is consistent with them", "remove c: the twin's copy is inconsistent with them too"],
    ],
    ['nothing clashes: nothing to do', [held('a', 'GAUGE', 1), held('b', 'GAUGE', 2)], {}, []],
  ])('%s', (_name, groups, twin, expected) => {
    expect(plan(groups, twin)).toEqual(expected);
  });
});
