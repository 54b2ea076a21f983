/**
 * A front door started after one that died acts on the hints and suspect marks it left in Redis
 * promptly, not a reconcile interval later: real redis-server, real Pushgateways, real `serve`
 * processes with an interval of an hour.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/processes.js';
import { startPushgateway, type Group } from '../helpers/pushgateway.js';
import { useServeDoors } from '../helpers/serve-doors.js';

/** Far longer than any test here: a repair seen within it was not the interval's doing. */
const INTERVAL_SECONDS = 3600;

const doors = useServeDoors();
const { backends } = doors;
const startDoor = (prefix: string, intervalSeconds: number) => doors.start(prefix, intervalSeconds);

const put = (url: string, job: string, value: number) => fetch(`${url}/metrics/job/${job}`, { method: 'PUT', body: `restarted ${value}\n` });
const valuesOf = (groups: Group[]) => Object.fromEntries(groups.map((g) => [g.labels['job'], String(g.metrics['restarted']?.metrics[0]?.['value'])]));
const jobs = (count: number) => Array.from({ length: count }, (_, i) => `g${i}`);

/**
 * Through a first front door: 15 groups on both replicas, then replica a/0 down (gracefully, so
 * that it keeps them) while those 15 are pushed again and 15 new ones arrive. Returns once the
 * 30 missed writes are kept in Redis, the first front door killed (`holdingLease`: once it holds
 * the reconcile lease) and a/0 back with its stale 15.
 */
async function missWritesThenDie(prefix: string, firstInterval: number, holdingLease = false): Promise<void> {
  backends.push(await startPushgateway({ persistence: true }), await startPushgateway());
  const first = await startDoor(prefix, firstInterval);
  for (const job of jobs(15)) expect((await put(first.url, job, 1)).status).toBe(200);
  await backends[0]!.kill('SIGTERM');
  for (const job of jobs(30)) expect((await put(first.url, job, 2)).status).toBe(200);
  await waitFor(async () => (await doors.client().llen(`${prefix}hints:{a/0}`)) === 30, { what: 'the 30 missed writes to be kept in Redis' });
  expect(await doors.client().hget(`${prefix}{suspects}:since`, 'a/0')).not.toBeNull();
  if (holdingLease)
    await waitFor(async () => (await doors.client().get(`${prefix}reconcile-lease`)) !== null, { what: 'the first front door to hold the lease' });
  first.process.kill('SIGKILL');
  await first.process.exited;
  await backends[0]!.restart();
  expect(valuesOf(await backends[0]!.groups())).toEqual(Object.fromEntries(jobs(15).map((j) => [j, '1'])));
}

async function expectRepairedPromptly(): Promise<void> {
  const wanted = Object.fromEntries(jobs(30).map((j) => [j, '2']));
  expect(valuesOf(await backends[1]!.groups())).toEqual(wanted);
  await waitFor(async () => JSON.stringify(valuesOf(await backends[0]!.groups())) === JSON.stringify(valuesOf(await backends[1]!.groups())), {
    what: 'the replica that missed 30 writes to hold all of them',
    timeoutMs: 45_000,
  });
  expect(valuesOf(await backends[0]!.groups())).toEqual(wanted);
}

describe('a front door started after one that died', () => {
  it('repairs the writes a replica missed soon after it starts, with an interval of an hour', { timeout: 120_000 }, async () => {
    const prefix = `restart-${Date.now()}:`;
    await missWritesThenDie(prefix, INTERVAL_SECONDS);
    await startDoor(prefix, INTERVAL_SECONDS);
    await expectRepairedPromptly();
    expect(await doors.client().llen(`${prefix}hints:{a/0}`)).toBe(0);
  });

  // The lease the dead front door held lives out its time-to-live first.
  it('takes over the reconcile lease of the front door that died holding it', { timeout: 120_000 }, async () => {
    const prefix = `lease-taken-${Date.now()}:`;
    // The first front door runs a pass every second: it holds the lease when it dies.
    await missWritesThenDie(prefix, 1, true);
    await startDoor(prefix, INTERVAL_SECONDS);
    await expectRepairedPromptly();
  });
});
