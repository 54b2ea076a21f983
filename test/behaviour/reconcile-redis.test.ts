/**
 * Self-healing across front doors, with a real redis-server: hints and suspect marks outlive
 * the front door that recorded them, and one reconciler runs at a time.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/processes.js';
import { startPushgateway, type Group } from '../helpers/pushgateway.js';
import { useServeDoors } from '../helpers/serve-doors.js';

const doors = useServeDoors();
const { backends } = doors;
const startDoor = async (prefix: string, intervalSeconds: number): Promise<string> => (await doors.start(prefix, intervalSeconds)).url;

const put = (url: string, job: string, value: number) => fetch(`${url}/metrics/job/${job}`, { method: 'PUT', body: `healed ${value}\n` });
const valuesOf = (groups: Group[]) => Object.fromEntries(groups.map((g) => [g.labels['job'], String(g.metrics['healed']?.metrics[0]?.['value'])]));
const metric = async (url: string, pattern: RegExp): Promise<number> => Number((await (await fetch(`${url}/-/metrics`)).text()).match(pattern)?.[1] ?? 0);

describe('self-healing with Redis', () => {
  it('hints and suspect marks survive the front door that recorded them', async () => {
    backends.push(await startPushgateway(), await startPushgateway());
    const prefix = `heal-${Date.now()}:`;
    const { url: first, process: stopping } = await doors.start(prefix, 0);
    for (let i = 0; i < 5; i++) expect((await put(first, `g${i}`, 1)).status).toBe(200);
    await backends[0]!.kill();
    for (let i = 0; i < 5; i++) expect((await put(first, `g${i}`, 2)).status).toBe(200);
    expect((await put(first, 'late', 1)).status).toBe(200);
    await waitFor(async () => (await doors.client().llen(`${prefix}hints:{a/0}`)) === 6, { what: 'the missed writes to be kept in Redis' });
    expect(await doors.client().hget(`${prefix}{suspects}:since`, 'a/0')).not.toBeNull();
    stopping.kill('SIGTERM');
    expect(await stopping.exited).toBe(0);

    // Another front door, started after the first is gone, repairs what it never saw missed.
    await backends[0]!.restart();
    const second = await startDoor(prefix, 1);
    await waitFor(async () => JSON.stringify(valuesOf(await backends[0]!.groups())) === JSON.stringify(valuesOf(await backends[1]!.groups())), {
      what: 'the restarted replica to hold its twin’s groups',
      timeoutMs: 20_000,
    });
    expect(valuesOf(await backends[0]!.groups())).toEqual({ g0: '2', g1: '2', g2: '2', g3: '2', g4: '2', late: '1' });
    expect(await doors.client().llen(`${prefix}hints:{a/0}`)).toBe(0);
    expect(await metric(second, /pushring_hints_total\{event="superseded"\} (\d+)/)).toBe(6);
    await waitFor(async () => (await doors.client().hget(`${prefix}{suspects}:since`, 'a/0')) === null, { what: 'the replica to be trusted again' });
  });

  it('runs one reconciler at a time across front doors', async () => {
    backends.push(await startPushgateway(), await startPushgateway());
    const prefix = `lease-${Date.now()}:`;
    const urls = [await startDoor(prefix, 1), await startDoor(prefix, 1)];
    const passes = async () => Promise.all(urls.map((u) => metric(u, /pushring_reconcile_passes_total (\d+)/)));
    await waitFor(async () => (await passes()).some((n) => n >= 3), { what: 'three passes by the lease holder', timeoutMs: 15_000 });
    expect((await passes()).filter((n) => n > 0)).toHaveLength(1);
  });

  it('a front door without the lease forgets the marks the holder cleared', async () => {
    backends.push(await startPushgateway(), await startPushgateway());
    const prefix = `forget-${Date.now()}:`;
    const holder = await startDoor(prefix, 1);
    await waitFor(async () => (await metric(holder, /pushring_reconcile_passes_total (\d+)/)) >= 1, { what: 'a pass by the holder', timeoutMs: 15_000 });
    const other = await startDoor(prefix, 1);
    await backends[0]!.kill();
    for (let i = 0; i < 3; i++) expect((await put(other, `g${i}`, 1)).status).toBe(200);
    await waitFor(async () => (await metric(other, /pushring_replicas_suspect (\d+)/)) === 1, { what: 'the other door to hold a/0 suspect' });
    await backends[0]!.restart();
    await waitFor(async () => (await doors.client().hget(`${prefix}{suspects}:since`, 'a/0')) === null, { what: 'the holder to clear a/0', timeoutMs: 20_000 });
    await waitFor(async () => (await metric(other, /pushring_replicas_suspect (\d+)/)) === 0, { what: 'the other door to forget a/0', timeoutMs: 20_000 });
    expect(await metric(other, /pushring_reconcile_passes_total (\d+)/)).toBe(0);
  });
});
