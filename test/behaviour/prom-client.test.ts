/**
 * prom-client's own Pushgateway class, pointed at pushring: push (PUT), pushAdd (POST) and
 * delete with groupings, plain and gzipped, land on both replicas of the owner shard only.
 */
import { Gauge, Pushgateway, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/processes.js';
import { startFrontDoor, storedGroups, type FrontDoor } from './front-door.js';

let door: FrontDoor;
beforeAll(async () => {
  door = await startFrontDoor({ shards: 2 });
});
afterAll(async () => {
  await door?.close();
});

function registryWith(name: string, value: number): Registry {
  const registry = new Registry();
  new Gauge({ name, help: `${name} help`, registers: [registry] }).set(value);
  return registry;
}

function valueOf(groups: Awaited<ReturnType<typeof storedGroups>>, labels: Record<string, string>, metric: string): unknown {
  const group = groups.find((g) => JSON.stringify(g.labels) === JSON.stringify(labels));
  return group?.metrics[metric];
}

describe("prom-client's Pushgateway against pushring", () => {
  it('push, pushAdd and delete with groupings behave as against a Pushgateway', async () => {
    const gateway = new Pushgateway(door.url, {}, registryWith('nightly_rows', 42));
    const labels = { instance: 'host1', job: 'nightly', zone: 'eu' };
    const put = await gateway.push({ jobName: 'nightly', groupings: { zone: 'eu', instance: 'host1' } });
    expect(put.resp).toMatchObject({ statusCode: 200 });
    let groups = await storedGroups(door);
    expect(valueOf(groups, labels, 'nightly_rows')).toMatchObject({ type: 'GAUGE', help: 'nightly_rows help' });

    const added = new Pushgateway(door.url, {}, registryWith('nightly_errors', 3));
    // Groupings in another order: the same group, so the same shard.
    await added.pushAdd({ jobName: 'nightly', groupings: { instance: 'host1', zone: 'eu' } });
    groups = await storedGroups(door);
    expect(valueOf(groups, labels, 'nightly_rows')).toBeDefined();
    expect(valueOf(groups, labels, 'nightly_errors')).toBeDefined();

    const replaced = new Pushgateway(door.url, {}, registryWith('nightly_errors', 4));
    await replaced.push({ jobName: 'nightly', groupings: { zone: 'eu', instance: 'host1' } });
    groups = await storedGroups(door);
    expect(valueOf(groups, labels, 'nightly_rows')).toBeUndefined();

    const del = await gateway.delete({ jobName: 'nightly', groupings: { instance: 'host1', zone: 'eu' } });
    expect(del.resp).toMatchObject({ statusCode: 202 });
    await waitFor(async () => (await storedGroups(door)).length === 0, { what: 'the group to be deleted from both replicas' });
  });

  it('gzipped pushes of many groups spread over the shards, each on both replicas of one', async () => {
    const gateway = new Pushgateway(door.url, { headers: { 'Content-Encoding': 'gzip' } }, registryWith('spread_metric', 1));
    for (let i = 0; i < 20; i++) await gateway.pushAdd({ jobName: 'spread', groupings: { instance: `i${i}` } });
    const groups = await storedGroups(door);
    expect(groups).toHaveLength(20);
    const perShard = await Promise.all(door.backends.map(async (replicas) => (await replicas[0]!.groups()).length));
    expect(perShard.every((n) => n > 0)).toBe(true);
    expect(perShard.reduce((a, b) => a + b)).toBe(20);
  });
});
