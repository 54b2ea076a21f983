/**
 * Cleaning up through the front door, over real Pushgateways (2 shards x 2 replicas): the
 * job-glob delete and the wipe, their dry runs, the union of replicas, refusal when a shard
 * cannot be read, the admin scope, and the judge's index forgetting what was deleted.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeGroupingKey } from '../../src/core/grouping-key.js';
import { removeTempDirs, waitFor } from '../helpers/processes.js';
import type { Pushgateway } from '../helpers/pushgateway.js';
import { startTokenFrontDoor } from '../helpers/token-front-door.js';
import { send, startFrontDoor, type FrontDoor } from './front-door.js';

interface Report {
  dryRun: boolean;
  complete: boolean;
  more: boolean;
  matched: number;
  deleted: number;
  failed: number;
  groups: Array<{ labels: Record<string, string>; shards: string[] }>;
  failures: Array<{ labels: Record<string, string>; reason: string }>;
  unreadShards: string[];
  unreadReplicas: string[];
  error?: string;
}

const labelsOf = async (gateway: Pushgateway): Promise<string[]> => (await gateway.groups()).map((g) => JSON.stringify(g.labels)).sort();
const key = (labels: Record<string, string>): string => JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))));

/** Polls until every replica of `door` holds exactly the groups `expected` places on its shard. */
async function expectStored(door: FrontDoor, expected: ReadonlyArray<Record<string, string>>): Promise<void> {
  const want = door.backends.map((_, s) =>
    JSON.stringify(
      expected
        .filter((labels) => door.cluster.ownerOf(makeGroupingKey(new Map(Object.entries(labels))).canonical).name === `s${s}`)
        .map(key)
        .sort(),
    ),
  );
  const actual = async (): Promise<string[][]> => Promise.all(door.backends.flat().map(labelsOf));
  const matches = async (): Promise<boolean> => (await actual()).every((held, i) => JSON.stringify(held) === want[Math.floor(i / door.backends[0]!.length)]);
  await waitFor(matches, { what: 'the replicas to hold the expected groups' }).catch(() => undefined);
  const held = await actual();
  held.forEach((groups, i) => expect(groups, `replica ${i}`).toEqual(JSON.parse(want[Math.floor(i / door.backends[0]!.length)]!)));
}

async function push(door: FrontDoor, path: string, body = 'm 1\n', headers: Record<string, string> = {}): Promise<number> {
  return (await send(door.url, { method: 'PUT', path, body, headers })).status;
}

async function admin(
  door: FrontDoor,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; report: Report; code?: string }> {
  const res = await send(door.url, { method, path, headers });
  const parsed = res.body === '' ? ({} as Report) : (JSON.parse(res.body) as Report);
  return { status: res.status, report: parsed };
}

const GROUPS = [
  { job: 'batch-a', instance: 'i1' },
  { job: 'batch-a', instance: 'i2' },
  { job: 'batch-b' },
  { job: 'batch-c', instance: 'x' },
  { job: 'batch-d', region: 'eu' },
  { job: 'team/x' },
  { job: 'keep-1' },
  { job: 'keep-2', instance: 'k' },
  { job: 'keep-3' },
];
const pathOf = (labels: Record<string, string>): string => {
  const job = labels['job']!;
  let path = job.includes('/') ? `/metrics/job@base64/${Buffer.from(job).toString('base64url')}` : `/metrics/job/${job}`;
  for (const [name, value] of Object.entries(labels)) if (name !== 'job') path += `/${name}/${value}`;
  return path;
};

async function pushAll(door: FrontDoor): Promise<void> {
  for (const labels of GROUPS) expect(await push(door, pathOf(labels), `m 1\nm_${labels.job.replace(/\W/g, '_')} 1\n`)).toBe(200);
  await expectStored(door, GROUPS);
}

async function wipeBackends(door: FrontDoor): Promise<void> {
  await Promise.all(door.backends.flat().map((b) => b.wipe()));
  await waitFor(async () => (await Promise.all(door.backends.flat().map((b) => b.groups()))).every((g) => g.length === 0), {
    what: 'the backends to be empty',
  });
  door.resetIndex();
}

describe('administration through the front door (no credentials)', () => {
  let door: FrontDoor;
  beforeAll(async () => {
    door = await startFrontDoor({ shards: 2, replicas: 2 });
  });
  afterAll(async () => {
    await door?.close();
  });
  beforeEach(async () => {
    await wipeBackends(door);
    await pushAll(door);
  });

  it('places the test groups on both shards', () => {
    const owners = new Set(GROUPS.map((labels) => door.cluster.ownerOf(makeGroupingKey(new Map(Object.entries(labels))).canonical).name));
    expect([...owners].sort()).toEqual(['s0', 's1']);
  });

  it('a dry run lists exactly the groups of the glob and deletes nothing', async () => {
    const { status, report } = await admin(door, 'DELETE', `/api/v1/admin/jobs/${encodeURIComponent('batch-*')}?dry_run=true`);
    expect(status).toBe(200);
    expect(report).toMatchObject({ dryRun: true, complete: true, more: false, deleted: 0, failed: 0, unreadShards: [] });
    const listed = report.groups.map((g) => key(g.labels)).sort();
    expect(listed).toEqual(
      GROUPS.filter((g) => g.job.startsWith('batch-'))
        .map(key)
        .sort(),
    );
    expect(report.matched).toBe(listed.length);
    for (const g of report.groups) expect(g.shards).toEqual([door.cluster.ownerOf(makeGroupingKey(new Map(Object.entries(g.labels))).canonical).name]);
    await expectStored(door, GROUPS);
  });

  it('deletes every group of the glob from every replica and leaves the others', async () => {
    const { status, report } = await admin(door, 'DELETE', `/api/v1/admin/jobs/${encodeURIComponent('batch-?')}`);
    expect(status).toBe(200);
    const gone = GROUPS.filter((g) => /^batch-.$/.test(g.job));
    expect(report).toMatchObject({ dryRun: false, complete: true, matched: gone.length, deleted: gone.length, failed: 0, failures: [] });
    expect(report.groups.map((g) => key(g.labels)).sort()).toEqual(gone.map(key).sort());
    await expectStored(
      door,
      GROUPS.filter((g) => !/^batch-.$/.test(g.job)),
    );
  });

  it('takes a job name with a slash, percent-encoded', async () => {
    const { status, report } = await admin(door, 'DELETE', `/api/v1/admin/jobs/${encodeURIComponent('team/*')}`);
    expect(status).toBe(200);
    expect(report.deleted).toBe(1);
    await expectStored(
      door,
      GROUPS.filter((g) => g.job !== 'team/x'),
    );
  });

  it('deletes a group that one replica holds only (the union of replicas)', async () => {
    const lone = { job: 'batch-lone' };
    const owner = Number(door.cluster.ownerOf(makeGroupingKey(new Map(Object.entries(lone))).canonical).name.slice(1));
    const replica = door.backends[owner]![1]!;
    const res = await fetch(`${replica.url}/metrics/job/batch-lone`, { method: 'PUT', body: 'lone 1\n' });
    expect(res.status).toBeLessThan(300);
    await waitFor(async () => (await labelsOf(replica)).includes(key(lone)), { what: 'the lone group on one replica' });
    const { status, report } = await admin(door, 'DELETE', '/api/v1/admin/jobs/batch-lone');
    expect(status).toBe(200);
    expect(report.deleted).toBe(1);
    await expectStored(door, GROUPS);
  });

  it('refuses a mistyped dry run (400) instead of wiping', async () => {
    for (const query of ['?dry_run=yes', '?dry-run=true', '?dryRun=1']) {
      const res = await send(door.url, { method: 'PUT', path: `/api/v1/admin/wipe${query}` });
      expect(res.status, query).toBe(400);
      expect(res.body, query).toMatch(/^pushring: .*dry_run.*; nothing was deleted\.\n$/);
    }
    await expectStored(door, GROUPS);
  });

  it('a wipe empties every replica, and its dry run lists every group first', async () => {
    const dry = await admin(door, 'PUT', '/api/v1/admin/wipe?dry_run=true');
    expect(dry.status).toBe(200);
    expect(dry.report.groups.map((g) => key(g.labels)).sort()).toEqual(GROUPS.map(key).sort());
    await expectStored(door, GROUPS);
    const { status, report } = await admin(door, 'PUT', '/api/v1/admin/wipe');
    expect(status).toBe(202);
    expect(report).toMatchObject({ deleted: GROUPS.length, failed: 0, complete: true });
    await expectStored(door, []);
  });

  it('forgets deleted groups in the index: a push they would have clashed with is accepted', async () => {
    const clash = '# TYPE m_batch_b counter\nm_batch_b 2\n';
    // While batch-b holds m_batch_b untyped, another group may not push it as a counter (the
    // refusal is recorded, as a checked Pushgateway records it: the group `after` exists).
    expect(await push(door, '/metrics/job/after', clash)).toBe(400);
    expect((await admin(door, 'DELETE', '/api/v1/admin/jobs/batch-b')).status).toBe(200);
    await expectStored(door, [...GROUPS.filter((g) => g.job !== 'batch-b'), { job: 'after' }]);
    expect(await push(door, '/metrics/job/after', clash)).toBe(200);
    expect(await push(door, '/metrics/job/batch-b', 'm 3\n')).toBe(200);
  });

  it('refuses a glob that is not valid percent-encoding', async () => {
    const res = await send(door.url, { method: 'DELETE', path: '/api/v1/admin/jobs/%E0%A4%A' });
    expect(res.status).toBe(400);
    await expectStored(door, GROUPS);
  });

  it('a shard with no live replica: the dry run names it (503), a real run deletes nothing', async () => {
    const down = door.backends[1]!;
    for (const b of down) b.stop();
    try {
      await waitFor(async () => door.cluster.shards.get('s1')!.backends.every((b) => !b.up), { what: 'shard s1 to be seen down' });
      const dry = await admin(door, 'DELETE', `/api/v1/admin/jobs/${encodeURIComponent('*')}?dry_run=true`);
      expect(dry.status).toBe(503);
      expect(dry.report).toMatchObject({ dryRun: true, complete: false, unreadShards: ['s1'] });
      expect(dry.report.error).toContain('s1');
      for (const path of ['/api/v1/admin/wipe', `/api/v1/admin/jobs/${encodeURIComponent('batch-*')}`]) {
        const res = await send(door.url, { method: path.endsWith('wipe') ? 'PUT' : 'DELETE', path });
        expect(res.status).toBe(503);
        const report = JSON.parse(res.body) as Report;
        expect(report).toMatchObject({ deleted: 0, unreadShards: ['s1'] });
        expect(report.error).toContain('nothing was deleted');
      }
      expect(await Promise.all(door.backends[0]!.map(labelsOf))).toEqual(
        door.backends[0]!.map(() =>
          GROUPS.filter((g) => door.cluster.ownerOf(makeGroupingKey(new Map(Object.entries(g))).canonical).name === 's0')
            .map(key)
            .sort(),
        ),
      );
    } finally {
      for (const b of down) b.cont();
    }
    await waitFor(async () => door.cluster.shards.get('s1')!.backends.every((b) => b.up), { what: 'shard s1 to be up again', timeoutMs: 20_000 });
    await expectStored(door, GROUPS);
  });

  it('counts the calls and the groups deleted in its metrics', async () => {
    await admin(door, 'DELETE', '/api/v1/admin/jobs/keep-1');
    const metrics = (await send(door.url, { method: 'GET', path: '/-/metrics' })).body;
    expect(metrics).toMatch(/pushring_admin_calls_total\{call="jobs",outcome="deleted"\} [1-9]/);
    expect(metrics).toMatch(/pushring_admin_deletes_total\{call="jobs",result="deleted"\} [1-9]/);
    expect(metrics).toMatch(/pushring_admin_calls_total\{call="jobs",outcome="refused"\} [1-9]/);
  });
});

describe('administration needs the admin scope once credentials exist', () => {
  let door: FrontDoor;
  const ADMIN = 'tok-admin-5e1b7c9d3f2a';
  const PUSHER = 'tok-pusher-8a6c4e2b0d9f';
  beforeAll(async () => {
    door = await startTokenFrontDoor({
      shards: 2,
      replicas: 2,
      credentials: [
        { name: 'ops', token: ADMIN, push: ['*'], delete: ['*'], admin: true },
        { name: 'ci', token: PUSHER, push: ['*'], delete: ['*'] },
      ],
    });
    await wipeBackends(door);
    for (const labels of GROUPS) expect(await push(door, pathOf(labels), 'm 1\n', { authorization: `Bearer ${ADMIN}` })).toBe(200);
    await expectStored(door, GROUPS);
  });
  afterAll(async () => {
    await door?.close();
    await removeTempDirs();
  });

  it.each([
    ['PUT', '/api/v1/admin/wipe'],
    ['PUT', '/api/v1/admin/wipe?dry_run=true'],
    ['DELETE', '/api/v1/admin/jobs/batch-a'],
    ['DELETE', '/api/v1/admin/jobs/batch-a?dry_run=true'],
  ])('%s %s: 401 without a credential, 403 without admin', async (method, path) => {
    expect((await send(door.url, { method, path })).status).toBe(401);
    expect((await send(door.url, { method, path, headers: { authorization: `Bearer ${PUSHER}` } })).status).toBe(403);
    await expectStored(door, GROUPS);
  });

  it('answers the admin credential: a dry run 200, a delete 200, a wipe 202', async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    expect((await admin(door, 'PUT', '/api/v1/admin/wipe?dry_run=true', auth)).status).toBe(200);
    expect((await admin(door, 'DELETE', '/api/v1/admin/jobs/batch-a', auth)).status).toBe(200);
    await expectStored(
      door,
      GROUPS.filter((g) => g.job !== 'batch-a'),
    );
    expect((await admin(door, 'PUT', '/api/v1/admin/wipe', auth)).status).toBe(202);
    await expectStored(door, []);
  });
});
